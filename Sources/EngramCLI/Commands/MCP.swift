import ArgumentParser
import Engram
import EngramMCP
import EngramService
import Foundation
import Synchronization

struct MCPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the memory tools over the Model Context Protocol on standard input and output.",
        discussion: """
            For desktop assistants, IDE agents and agent frameworks that plug memory in over MCP. Tools: remember, \
            recall, search, get_memory, list_memories, update_memory, forget, feedback, working_set, working_get, \
            working_list, stats. $ENGRAM_SCOPE and $ENGRAM_SCOPE_ACTIONS confine the process as for every data \
            command; a tool argument can only narrow within them. The same tools are served over Streamable \
            HTTP at /mcp by `engram serve`, where the API key decides the scope.
            """)

    @OptionGroup var location: StoreLocation

    func run() throws {
        let scope = try ProcessScope.current() ?? .unrestricted
        let store = try MemoryStore.open(at: location.path, options: StoreOptions(readOnly: !scope.actions.contains(.write) && !scope.actions.contains(.forget)))
        let resolver = EmbedderResolver(environment: CLIIO.current.environment)
        let failure = Mutex<(any Error)?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Task {
            do {
                try await EngramMCPServer.serveStdio(store: store, scope: scope, resolver: resolver)
            } catch {
                failure.withLock { $0 = error }
            }
            finished.signal()
        }
        finished.wait()
        try store.close()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
