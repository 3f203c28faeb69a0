import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw tensor data.
final class SafeTensorsFile: @unchecked Sendable {  // Sendable: read-only mapping, immutable after init.
    struct Tensor {
        var dtype: String
        var shape: [Int]
        var start: Int
        var end: Int
    }

    let path: String
    let tensors: [String: Tensor]
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private let dataOffset: Int

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EngramError(.notFound, "cannot open \(path)", field: "model") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw VectorFile.ioError("stat", path) }
        let fileLength = Int(st.st_size)
        length = fileLength
        guard length >= 8, let p = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw EngramError(.storageCorrupted, "\(path) is not a safetensors file", field: "model")
        }
        base = p
        let storedLength = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        guard storedLength > 0, storedLength <= UInt64(length - 8) else {
            munmap(p, length)
            throw EngramError(.storageCorrupted, "\(path) has a bad header length", field: "model")
        }
        let headerLength = Int(storedLength)
        dataOffset = 8 + headerLength
        let headerText = String(
            decoding: UnsafeRawBufferPointer(start: p + 8, count: headerLength), as: UTF8.self)
        var tensors: [String: Tensor] = [:]
        do {
            guard case .object(let header) = try JSONValue(parsing: headerText, field: "model") else {
                throw EngramError(.storageCorrupted, "header is not an object", field: "model")
            }
            for (name, value) in header where name != "__metadata__" {
                // Sizes and offsets are whole numbers within the file (a shape's product too), so no
                // conversion or multiplication can trap on a damaged header.
                func count(_ v: JSONValue) -> Int? {
                    v.numberValue.flatMap {
                        $0 >= 0 && $0 <= Double(fileLength) && $0.rounded() == $0 ? Int($0) : nil
                    }
                }
                guard case .object(let t) = value, let dtype = t["dtype"]?.stringValue,
                    case .array(let shapeValues)? = t["shape"], case .array(let offsets)? = t["data_offsets"],
                    offsets.count == 2, let start = count(offsets[0]), let end = count(offsets[1])
                else { throw EngramError(.storageCorrupted, "tensor \(name) is malformed", field: "model") }
                let shape = shapeValues.compactMap(count)
                guard shape.count == shapeValues.count else {
                    throw EngramError(
                        .storageCorrupted, "tensor \(name) has a malformed shape", field: "model")
                }
                var elements = 1
                for n in shape {
                    let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                    guard !overflow, product <= fileLength else {
                        throw EngramError(
                            .storageCorrupted, "tensor \(name) has an impossible shape", field: "model")
                    }
                    elements = product
                }
                let tensor = Tensor(dtype: dtype, shape: shape, start: start, end: end)
                guard tensor.end >= tensor.start, tensor.end <= fileLength - dataOffset else {
                    throw EngramError(
                        .storageCorrupted, "tensor \(name) lies outside the file", field: "model")
                }
                tensors[name] = tensor
            }
        } catch {
            munmap(p, length)
            throw error
        }
        self.tensors = tensors
    }

    deinit { munmap(base, length) }

    /// Lets the kernel take back the mapped pages read so far (they come back from the page cache on the
    /// next read), for a caller that has copied what it needs out of them.
    func dropResidentPages() {
        _ = madvise(base, length, MADV_DONTNEED)
    }

    /// A float32 tensor's values, checked against the expected shape.
    func floats(_ name: String, shape: [Int]) throws -> UnsafeBufferPointer<Float> {
        guard let t = tensors[name] else {
            throw EngramError(.storageCorrupted, "\(path) has no tensor \(name)", field: "model")
        }
        guard t.dtype == "F32", t.shape == shape, t.end - t.start == shape.reduce(4, *) else {
            throw EngramError(
                .storageCorrupted, "tensor \(name) is \(t.dtype) \(t.shape), expected F32 \(shape)",
                field: "model")
        }
        let pointer = (base + dataOffset + t.start).assumingMemoryBound(to: Float.self)
        return UnsafeBufferPointer(start: pointer, count: shape.reduce(1, *))
    }
}
