import ArgumentParser
import Engram
import EngramService
import Foundation

struct Count: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Count memories matching the filters.")

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat
    @OptionGroup var filters: FilterOptions

    func run() async throws {
        let store = try location.open(readOnly: true)
        defer { try? store.close() }
        let filter = try filters.filter()
        let n = try await withService(store) { service, scope in
            try await service.count(matching: filter, scope: scope)
        }
        CLIIO.current.print(
            output.json ? JSONOutput.pretty(.object(["count": .number(Double(n))])) : String(n))
    }
}
