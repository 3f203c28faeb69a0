import ArgumentParser
import Engram
import EngramService
import Foundation

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a memory and the older versions it replaced, newest first.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "The memory's id (its current version).")
    var id: String

    func run() async throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let memoryID = try memoryID(id)
        let chain = try await withService(store) { service, scope in
            try await service.history(memoryID, scope: scope)
        }
        if output.json {
            CLIIO.current.print(JSONOutput.pretty(.array(chain.map { MemoryJSON.object($0) })))
        } else {
            for (i, m) in chain.enumerated() {
                CLIIO.current.print(
                    i == 0
                        ? "current (\(TimeParsing.format(m.updatedAt))):"
                        : "replaced version (\(TimeParsing.format(m.updatedAt))):")
                printMemory(m)
            }
        }
    }
}
