import ArgumentParser
import Engram
import EngramService
import Foundation

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke the API keys of `engram serve`.",
        discussion: """
            A key is bound to a scope: namespace subtrees and actions (read, write, forget). It is printed once; \
            the key file (default STORE/keys.json, mode 0600) keeps only its SHA-256. A running server picks \
            up changes within a second.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct KeyFileOptions: ParsableArguments {
        @OptionGroup var location: StoreLocation

        @Option(help: "The key file (default: keys.json in the store directory).")
        var keys: String?

        func open() throws -> KeyFile {
            try ProcessScope.requireWholeStore("keys")
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory),
                isDirectory.boolValue
            else {
                throw EngramError(.notFound, "no store at \(location.path)", field: "--store")
            }
            return try KeyFile(path: keys ?? KeyFile.defaultPath(store: location.path))
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it (once).")

        @OptionGroup var file: KeyFileOptions
        @OptionGroup var output: OutputFormat

        @Option(help: "A namespace subtree the key reaches (repeatable).")
        var namespace: [String] = []

        @Flag(
            name: .customLong("all-namespaces"), help: "The key reaches every namespace (an operator's key).")
        var allNamespaces = false

        @Option(help: "Comma-separated actions: read, write, forget, quarantine.")
        var actions = "read"

        @Option(help: "A name for the key, shown in logs and listings.")
        var name: String?

        @Option(
            name: .customLong("max-trust"),
            help: "The highest trust the key may write: untrusted, external, agent (default), user, system.")
        var maxTrust = KeyFile.defaultMaxTrust.description

        @Option(
            help: "Requests a second the key may make, e.g. 20/s or 20 (default: no limit); more get 429.")
        var rate: String?

        @Option(
            help:
                "Writing requests the key may make per UTC day, e.g. 10000/d (default: no quota); more get 429."
        )
        var quota: String?

        func run() throws {
            let allowed = try ScopeParsing.actions(actions, field: "--actions")
            let ceiling = try TrustLevel(name: maxTrust, field: "--max-trust")
            let perSecond = try rate.map { text -> Double in
                let number = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
                guard let value = Double(number), value.isFinite, value > 0 else {
                    throw EngramError.invalid("--rate", "must be requests a second, such as 20/s")
                }
                return value
            }
            var scope: Scope
            if allNamespaces {
                guard namespace.isEmpty else {
                    throw EngramError.invalid("--namespace", "is given together with --all-namespaces")
                }
                guard !allowed.isEmpty else {
                    throw EngramError.invalid("--actions", "must allow at least one action")
                }
                scope = .everyNamespace(actions: allowed)
            } else {
                guard !namespace.isEmpty else {
                    throw EngramError.invalid("--namespace", "give at least one, or --all-namespaces")
                }
                do {
                    scope = try Scope(namespaces: namespace, actions: allowed)
                } catch let error as EngramError {
                    throw EngramError(
                        error.code, error.message,
                        field: error.field == "scope.actions" ? "--actions" : "--namespace")
                }
            }
            scope = scope.writing(atMost: ceiling)
            var keys = try file.open()
            let (key, record) = try keys.create(
                name: name ?? "key-\(keys.keys.count + 1)", scope: scope, rate: perSecond,
                dailyWrites: try quota.map { text -> Int in
                    let number = text.hasSuffix("/d") ? String(text.dropLast(2)) : text
                    guard let value = Int(number), value >= 1 else {
                        throw EngramError.invalid("--quota", "must be writes a day, such as 10000/d")
                    }
                    return value
                })
            let io = CLIIO.current
            if output.json {
                guard case .object(var o) = KeyFile.json(record) else { return }
                o["key"] = .string(key)
                io.print(JSONOutput.pretty(.object(o)))
            } else {
                io.print(key)
                io.printError("engram: created \(record.id) (\(record.name)); the key is shown only now")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List keys (ids, names, scopes; never the keys).")

        @OptionGroup var file: KeyFileOptions
        @OptionGroup var output: OutputFormat

        func run() throws {
            let keys = try file.open().keys
            let io = CLIIO.current
            if output.json { return io.print(JSONOutput.pretty(.array(keys.map(KeyFile.json)))) }
            if keys.isEmpty { return io.print("no keys") }
            for record in keys {
                let namespaces =
                    record.scope.isUnrestrictedNamespaces
                    ? "*" : record.scope.namespaces.joined(separator: ",")
                let state = record.revokedAt.map { "revoked \(TimeParsing.format($0))" } ?? "active"
                let actions = ScopeParsing.words(record.scope.actions).joined(separator: ",")
                let rate =
                    (record.rate.map { "  \($0)/s" } ?? "")
                    + (record.dailyWrites.map { "  \($0) writes/d" } ?? "")
                io.print(
                    "\(record.id)  \(record.name)  \(namespaces)  \(actions)  max trust \(record.scope.maxTrust)\(rate)  \(state)"
                )
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id (k_...).")

        @OptionGroup var file: KeyFileOptions
        @OptionGroup var output: OutputFormat

        @Argument(help: "The key's id, as `engram keys list` shows it.")
        var id: String

        func run() throws {
            var keys = try file.open()
            let record = try keys.revoke(id: id)
            CLIIO.current.print(
                output.json ? JSONOutput.pretty(KeyFile.json(record)) : "revoked \(record.id)")
        }
    }
}
