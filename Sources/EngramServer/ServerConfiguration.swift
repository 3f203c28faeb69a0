import Engram

/// How `engram serve` runs: where it listens, which keys it trusts, and its limits.
package struct ServerConfiguration: Sendable {
    package var host = "127.0.0.1"
    package var port = 8420
    /// The key file. While it does not exist the server runs without keys (every request
    /// unrestricted), which it allows on loopback only unless ``insecure``; once it exists every
    /// `/v1` request needs a key from it.
    package var keysPath: String
    /// Serve without keys on a non-loopback address.
    package var insecure = false
    /// Largest request body accepted, in bytes (413 beyond).
    package var maxBodyBytes = 8 << 20
    /// Most memories in one `POST /v1/memories` batch (413 beyond).
    package var maxBatch = 1000
    /// Requests waiting for or holding a worker before new ones get 503 with `Retry-After`.
    package var queueDepth = 256
    /// Worker threads for embedding, scanning and SQLite (never the event loops).
    package var workers = 2

    package init(keysPath: String) {
        self.keysPath = keysPath
    }

    /// Whether the address only accepts connections from this machine.
    package var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Refuses settings that would expose the store: keys are required off loopback.
    package func validate(keysExist: Bool) throws {
        guard (0...65535).contains(port) else {
            throw EngramError.invalid("--port", "must be from 0 to 65535")
        }
        guard workers >= 1, workers <= 256 else {
            throw EngramError.invalid("--workers", "must be from 1 to 256")
        }
        guard queueDepth >= 1 else { throw EngramError.invalid("--queue-depth", "must be at least 1") }
        guard maxBatch >= 1 else { throw EngramError.invalid("--max-batch", "must be at least 1") }
        guard maxBodyBytes >= 1024 else {
            throw EngramError.invalid("--max-body", "must be at least 1024 bytes")
        }
        if !keysExist && !isLoopback && !insecure {
            throw EngramError(
                .permissionDenied,
                "refusing to serve \(host) without API keys: create one with `engram keys create`, or pass --insecure",
                field: "--host")
        }
    }
}
