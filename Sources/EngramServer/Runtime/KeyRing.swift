import Engram
import EngramService
import Foundation
import Synchronization

/// The server's view of the key file, re-read when the file changes (checked at most once a second),
/// so `engram keys create` and `engram keys revoke` take effect without a restart.
final class KeyRing: Sendable {
    enum Lookup {
        /// The server runs without keys: the request is unrestricted.
        case open
        case key(APIKeyRecord)
        case missing
        case unknown
    }

    private struct State {
        var file: KeyFile?
        var modified: Date?
        var checked: ContinuousClock.Instant
    }

    let path: String
    private let state: Locked<State>

    init(path: String) throws {
        self.path = path
        let (file, modified) = try Self.load(path)
        state = Locked(State(file: file, modified: modified, checked: .now))
    }

    /// Whether a key file exists (then every `/v1` request needs a key).
    var isEnabled: Bool { state.withLock { $0.file != nil } }

    /// The key a request presents (`Authorization: Bearer KEY` or `X-API-Key: KEY`), judged.
    func lookup(_ presented: String?) -> Lookup {
        let file = current()
        guard let file else { return .open }
        guard let presented, !presented.isEmpty else { return .missing }
        return file.match(presented).map(Lookup.key) ?? .unknown
    }

    private func current() -> KeyFile? {
        state.withLock { state in
            let now = ContinuousClock.now
            if now - state.checked >= .seconds(1) {
                state.checked = now
                let modified = Self.modification(path)
                if modified != state.modified {
                    // A key file that disappears leaves no key valid; it never opens the server. A
                    // file that cannot be read keeps the keys last read.
                    if modified == nil, state.file != nil {
                        state.file = try? KeyFile(path: path)
                        state.modified = nil
                    } else if modified != nil, let reloaded = try? KeyFile(path: path) {
                        state.file = reloaded
                        state.modified = modified
                    }
                }
            }
            return state.file
        }
    }

    private static func load(_ path: String) throws -> (KeyFile?, Date?) {
        guard let modified = modification(path) else { return (nil, nil) }
        return (try KeyFile(path: path), modified)
    }

    private static func modification(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}
