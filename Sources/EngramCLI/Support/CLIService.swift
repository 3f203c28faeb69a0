import Engram
import EngramService

/// Runs one command's operations through the ``MemoryService`` every front end shares, over a store
/// the command opened (its scope is `$ENGRAM_SCOPE`'s), and stops the service's worker afterwards.
func withService<T: Sendable>(
    _ handle: ScopedStore, _ body: (MemoryService, Scope) async throws -> T
) async throws -> T {
    let service = MemoryService(
        store: handle.store, limits: .init(workers: 1),
        resolver: EmbedderResolver(environment: CLIIO.current.environment))
    let result: Result<T, any Error>
    do {
        result = .success(try await body(service, handle.scope))
    } catch {
        result = .failure(error)
    }
    try await service.shutdown()
    return try result.get()
}
