import ArgumentParser
import Engram
import EngramService
import Foundation

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a memory and the older versions it replaced, newest first.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "The memory's id (its current version).")
    var id: String

    func run() throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let memoryID = try memoryID(id)
        let chain = [try store.memory(memoryID)] + (try store.history(of: memoryID))
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
