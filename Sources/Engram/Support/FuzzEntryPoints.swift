package import Foundation

/// The file formats and parsers that read bytes from outside, each callable on arbitrary bytes, for the
/// fuzz targets (`Tests/Fuzz`) and their regression corpus. Checksums are fixed up first, so that
/// fuzzing explores what lies behind them: a checksum guards against damage, not against a file made to
/// pass it, and such a file must still be refused without a crash.
package enum FuzzEntryPoints {
    /// A vector file header: decoded, and when accepted, encoding it again gives the same header.
    package static func vectorHeader(_ input: [UInt8]) {
        var bytes = Array(input.prefix(VectorFileHeader.size))
        bytes += [UInt8](repeating: 0, count: VectorFileHeader.size - bytes.count)
        VectorFileHeader.seal(&bytes)
        guard let header = try? VectorFileHeader.decode(bytes, path: "fuzz") else { return }
        precondition((try? VectorFileHeader.decode(header.encoded(), path: "fuzz")) == header, "header round trip")
    }

    /// A `slots.cache` file (its checksum fixed up) in a scratch directory, read for commit counter "7" and
    /// a vector file of 1,000 rows.
    package static func slotCache(_ input: [UInt8], scratch: URL) {
        let bytes = SlotCache.resealed(input)
        let file = scratch.appendingPathComponent(SlotCache.fileName)
        _ = FileManager.default.createFile(atPath: file.path, contents: Data(bytes))
        guard let (slots, free, names) = SlotCache.read(directory: scratch, counter: "7", maxSlots: 1_000) else { return }
        // What open does with an accepted cache: every live slot's names resolve, and the free list holds
        // exactly the other slots, highest first.
        precondition(slots.count <= 1_000)
        precondition(free == slots.freeSlots())
        slots.forEachLive { _, info in
            _ = names.namespaces.names[Int(info.namespace)]
            if info.agent >= 0 { _ = names.agents.names[Int(info.agent)] }
            if info.kind >= 0 { _ = names.kinds.names[Int(info.kind)] }
            for tag in info.tags { _ = names.tags.names[Int(tag)] }
        }
    }

    /// A claimed `usage.log` file in a scratch directory.
    package static func usageLog(_ input: [UInt8], scratch: URL) {
        let name = UsageLog.claimedPrefix + "fuzz"
        _ = FileManager.default.createFile(atPath: scratch.appendingPathComponent(name).path, contents: Data(input))
        for entry in UsageLog.read(name, directory: scratch) {
            precondition(entry.count > 0 && entry.last.isFinite)
        }
    }

    /// A safetensors file in a scratch directory: its header parsed and, when accepted, a tensor read
    /// with the shape the header gives.
    package static func safetensors(_ input: [UInt8], scratch: URL) {
        let file = scratch.appendingPathComponent("model.safetensors")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data(input))
        guard let file = try? SafeTensorsFile(path: file.path) else { return }
        for (name, tensor) in file.tensors { _ = try? file.floats(name, shape: tensor.shape) }
    }

    /// The WordPiece tokenizer with a small vocabulary, on arbitrary text.
    package static func wordPiece(_ input: [UInt8], vocabulary: String) {
        guard let tokenizer = try? WordPieceTokenizer(vocabularyFile: vocabulary) else { preconditionFailure("vocabulary") }
        let ids = tokenizer.encode(String(decoding: input, as: UTF8.self), maxTokens: 64)
        precondition(ids.count <= 64 && ids.allSatisfy { $0 >= 0 })
    }
}
