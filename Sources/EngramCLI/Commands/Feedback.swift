import ArgumentParser
import Engram
import EngramService

struct Feedback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Report whether a recalled memory helped; hybrid recall lifts helpful memories and lowers unhelpful ones."
    )

    @OptionGroup var location: StoreLocation
    @OptionGroup var output: OutputFormat

    @Argument(help: "The memory's id.")
    var id: String

    @Flag(help: "It helped.")
    var helpful = false

    @Flag(name: .customLong("not-helpful"), help: "It did not help.")
    var notHelpful = false

    func validate() throws {
        guard helpful != notHelpful else {
            throw ValidationError("give exactly one of --helpful and --not-helpful")
        }
    }

    func run() async throws {
        let memoryID = try memoryID(id)
        let store = try location.open()
        defer { try? store.close() }
        let helpful = helpful
        let memory = try await withService(store) { service, scope in
            try await service.feedback(memoryID, helpful: helpful, scope: scope)
            return try await service.memory(memoryID, scope: scope)
        }
        if output.json {
            CLIIO.current.print(
                JSONOutput.pretty(
                    .object([
                        "id": .string(memory.id.description),
                        "helpful_count": .number(Double(memory.helpfulCount)),
                        "unhelpful_count": .number(Double(memory.unhelpfulCount)),
                    ])))
        } else {
            CLIIO.current.print(
                "recorded: \(helpful ? "helpful" : "not helpful") (\(memory.helpfulCount) helpful, \(memory.unhelpfulCount) not helpful)"
            )
        }
    }
}
