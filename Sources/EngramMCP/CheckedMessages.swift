import Engram
import Foundation
import Logging
import MCP

/// The one boundary check for MCP messages, before the MCP library decodes them: a message that is not
/// strict JSON in UTF-8, or whose objects repeat a name, is refused as every other front end refuses
/// it, never decoded with one of the two values silently kept.
enum CheckedMessages {
    /// A JSON-RPC error answering a refused message, or nil when the message may go on.
    static func refusal(for message: Data) -> Data? {
        do {
            _ = try JSONValue(parsing: message, field: "message")
            return nil
        } catch let error as EngramError {
            let text = (error.field.map { "invalid \($0): " } ?? "") + error.message
            let body: JSONValue = .object([
                "jsonrpc": "2.0", "id": .null,
                "error": .object(["code": .number(-32700), "message": .string(text)]),
            ])
            return Data(body.jsonText.utf8)
        } catch {
            return nil
        }
    }
}

/// Standard input and output with each incoming message checked by ``CheckedMessages`` first: a refused
/// one is answered with a JSON-RPC error and never reaches the server.
actor CheckedStdioTransport: Transport {
    private let inner: StdioTransport
    nonisolated let logger: Logger

    init(logger: Logger) {
        inner = StdioTransport(logger: logger)
        self.logger = logger
    }

    func connect() async throws { try await inner.connect() }
    func disconnect() async { await inner.disconnect() }
    func send(_ data: Data) async throws { try await inner.send(data) }

    func receive() -> AsyncThrowingStream<Data, any Error> {
        let inner = self.inner
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await message in await inner.receive() {
                        if let refusal = CheckedMessages.refusal(for: message) {
                            try await inner.send(refusal)
                        } else {
                            continuation.yield(message)
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
