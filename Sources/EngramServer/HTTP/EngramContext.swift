import Engram
import Hummingbird
import Synchronization

/// Per-request state: the scope the request's key grants (set by ``KeyAuthenticator``).
struct EngramContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// What the request may reach; unrestricted when the server runs without keys.
    var scope: Scope = .unrestricted
    /// The key's name, for logs (never the key); a shared box, so that the logging middleware outside
    /// the authenticator sees what it found.
    let keyName = KeyNameBox()
    /// The key's id (`k_...`), for binding MCP sessions to the key that opened them.
    let keyID = KeyNameBox()

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// The name of the key a request used, filled in by ``KeyAuthenticator``.
final class KeyNameBox: Sendable {
    private let name = Locked<String?>(nil)
    var value: String? {
        get { name.withLock { $0 } }
        set { name.withLock { $0 = newValue } }
    }
}
