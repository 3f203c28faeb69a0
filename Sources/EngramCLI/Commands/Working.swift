import ArgumentParser
import Engram
import EngramService
import Foundation

struct Working: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Short-lived key/value working memory with a TTL, beside the long-term store.",
        subcommands: [Set.self, Get.self, ListEntries.self, Delete.self, Promote.self])

    struct Scope: ParsableArguments {
        @Option(name: .long, help: "Namespace of the entry (default: default).")
        var namespace = "default"
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set KEY to VALUE (JSON, or else a string) for --ttl.")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @Argument var key: String
        @Argument var value: String
        @Option(help: "How long the entry lives: 90s, 30m, 12h, 7d.")
        var ttl = "1h"

        func run() throws {
            let store = try location.open()
            defer { try? store.close() }
            try store.working.set(
                key, .literal(value), namespace: scope.namespace, ttl: TimeParsing.ttl(ttl, field: "--ttl"))
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the value of KEY (exit 66 when missing or expired).")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @OptionGroup var output: OutputFormat
        @Argument var key: String

        func run() throws {
            let store = try location.open()
            defer { try? store.close() }
            guard let entry = try store.working.get(key, namespace: scope.namespace) else {
                throw EngramError(.notFound, "no working-memory entry '\(key)' in \(scope.namespace)")
            }
            if output.json {
                CLIIO.current.print(JSONOutput.pretty(entryJSON(entry)))
            } else {
                CLIIO.current.print(entry.value.stringValue ?? entry.value.jsonText)
            }
        }
    }

    struct ListEntries: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List unexpired entries.")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @OptionGroup var output: OutputFormat

        func run() throws {
            let store = try location.open()
            defer { try? store.close() }
            let entries = try store.working.list(namespace: scope.namespace)
            if output.json {
                CLIIO.current.print(JSONOutput.pretty(.array(entries.map(entryJSON))))
            } else {
                for e in entries {
                    CLIIO.current.print(
                        "\(e.key)\t\(e.value.stringValue ?? e.value.jsonText)\t(expires \(TimeParsing.format(e.expiresAt)))"
                    )
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete KEY (exit 66 when it did not exist).")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @Argument var key: String

        func run() throws {
            let store = try location.open()
            defer { try? store.close() }
            guard try store.working.delete(key, namespace: scope.namespace) else {
                throw EngramError(.notFound, "no working-memory entry '\(key)' in \(scope.namespace)")
            }
        }
    }

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn KEY into a long-term memory (embedded with the store's embedder); prints its id.")
        @OptionGroup var location: StoreLocation
        @OptionGroup var scope: Scope
        @Argument var key: String
        @Option(help: "Kind of the new memory.")
        var kind = "note"
        @Option(help: "A tag for the new memory (repeatable).")
        var tag: [String] = []

        func run() throws {
            let store = try location.open()
            defer { try? store.close() }
            guard let entry = try store.working.get(key, namespace: scope.namespace) else {
                throw EngramError(.notFound, "no working-memory entry '\(key)' in \(scope.namespace)")
            }
            try store.requireWritable(namespace: scope.namespace)  // before the cost of embedding
            let vector = try textEmbedder(for: store).embed(entry.value.stringValue ?? entry.value.jsonText)
            let id = try store.working.promote(
                key, namespace: scope.namespace, embedding: vector, kind: MemoryKind(rawValue: kind),
                tags: tag)
            CLIIO.current.print(id.description)
        }
    }
}

private func entryJSON(_ e: WorkingEntry) -> JSONValue {
    .object([
        "namespace": .string(e.namespace), "key": .string(e.key), "value": e.value,
        "created_at": .string(TimeParsing.format(e.createdAt)),
        "expires_at": .string(TimeParsing.format(e.expiresAt)),
    ])
}
