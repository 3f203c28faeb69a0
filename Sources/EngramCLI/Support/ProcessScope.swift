import Engram
import EngramService
import Foundation

/// The scope `$ENGRAM_SCOPE` grants this process, if any: comma-separated namespace subtrees, with the
/// actions in `$ENGRAM_SCOPE_ACTIONS` (comma-separated `read`, `write`, `forget`, `quarantine`; default
/// `read`). `$ENGRAM_MAX_TRUST` caps the trust the process may write (with or without a scope).
///
/// An operator sets them in the environment of an agent's tool process; the agent composes only the
/// command line, so it cannot widen them. Under a scope, data commands see and touch only the scope,
/// and commands that need the whole store (init, stats, health, compact, reembed) are refused.
enum ProcessScope {
    static func current() throws -> Scope? {
        let environment = CLIIO.current.environment
        let ceiling = try environment["ENGRAM_MAX_TRUST"].map {
            try TrustLevel(name: $0, field: "ENGRAM_MAX_TRUST")
        }
        guard let namespaces = environment["ENGRAM_SCOPE"] else {
            return ceiling.map { Scope.unrestricted.writing(atMost: $0) }
        }
        return try scope(namespaces, environment)?.writing(atMost: ceiling ?? .system)
    }

    private static func scope(_ namespaces: String, _ environment: [String: String]) throws -> Scope? {
        let names = namespaces.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let actions = try ScopeParsing.actions(
            environment["ENGRAM_SCOPE_ACTIONS"] ?? "read", field: "ENGRAM_SCOPE_ACTIONS")
        do {
            return try Scope(namespaces: names, actions: actions)
        } catch let error as EngramError {
            let field = error.field == "scope.actions" ? "ENGRAM_SCOPE_ACTIONS" : "ENGRAM_SCOPE"
            throw EngramError(error.code, error.message, field: field)
        }
    }

    /// Refuses a command that needs the whole store when a scope is set.
    static func requireWholeStore(_ command: String) throws {
        if CLIIO.current.environment["ENGRAM_SCOPE"] != nil, let scope = try current() {
            throw EngramError(
                .permissionDenied,
                "`engram \(command)` needs the whole store; $ENGRAM_SCOPE limits this process to \(scope.namespaces.joined(separator: ", "))",
                field: "ENGRAM_SCOPE")
        }
    }
}
