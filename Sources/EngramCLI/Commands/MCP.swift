import ArgumentParser
import Engram
import EngramMCP
import EngramService
import Foundation

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
        // A process that may only read needs no writer lock, so it works beside a writer.
        let readOnly = !scope.actions.contains(.write) && !scope.actions.contains(.forget)
        let store = try MemoryStore.open(
            at: location.path, options: StoreLocation.options(readOnly: readOnly))
        let resolver = EmbedderResolver(environment: CLIIO.current.environment)
        let served = Result {
            try runUntilDone {
                try await EngramMCPServer.serveStdio(store: store, scope: scope, resolver: resolver)
            }
        }
        try store.close()
        try served.get()
    }
}
