import ArgumentParser
import Engram
import EngramService
import Foundation

struct Count: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Count memories matching the filters.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    func run() throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let n = try store.count(matching: filters.filter())
        CLIIO.current.print(
            output.json ? JSONOutput.pretty(.object(["count": .number(Double(n))])) : String(n))
    }
}
