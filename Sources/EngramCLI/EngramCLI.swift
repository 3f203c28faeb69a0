import ArgumentParser
import Engram
import EngramService
import Foundation

/// Runs `engram` command lines in-process.
public enum EngramCLI {
    /// Parses and runs one command line (without the program name) and returns its exit status.
    /// Output goes to `io`; errors are one line on its standard error, `engram: ...`.
    public static func run(_ arguments: [String], io: CLIIO = .standard) async -> Int32 {
        await CLIIO.$current.withValue(io) {
            do {
                if let kernels = io.environment["ENGRAM_KERNELS"], !KernelLevel.understands(kernels) {
                    throw EngramError.invalid("ENGRAM_KERNELS", "must be avx512, avx2, baseline or auto")
                }
                var command = try EngramCommand.parseAsRoot(hoistingGlobalOptions(arguments))
                if var command = command as? any AsyncParsableCommand {
                    try await command.run()
                } else {
                    try command.run()
                }
                return ExitStatus.ok
            } catch let error as EngramError {
                io.printError("engram: \(describe(error))")
                return ExitStatus.forError(error)
            } catch let error as ServiceError {
                let error = EngramError(error.code, error.message, field: error.field)
                io.printError("engram: \(describe(error))")
                return ExitStatus.forError(error)
            } catch let failure as CommandFailure {
                if let message = failure.message { io.printError("engram: \(message)") }
                return failure.status
            } catch {
                let code = EngramCommand.exitCode(for: error)
                let message = EngramCommand.fullMessage(for: error)
                if code == .success {
                    if !message.isEmpty { io.print(message) }
                    return ExitStatus.ok
                }
                if !message.isEmpty { io.printError(message) }
                return code == .validationFailure ? ExitStatus.usage : code.rawValue
            }
        }
    }

    /// Lets `--store PATH` come before the subcommand (`engram --store x recall ...`) by moving it to
    /// the end of the arguments (before a `--` terminator), where every store command accepts it.
    static func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
        var rest = arguments
        var moved: [String] = []
        while let first = rest.first {
            if first == "--store", rest.count >= 2 {
                moved += rest.prefix(2)
                rest.removeFirst(2)
            } else if first.hasPrefix("--store=") {
                moved.append(rest.removeFirst())
            } else {
                break
            }
        }
        guard !moved.isEmpty else { return arguments }
        if let terminator = rest.firstIndex(of: "--") {
            rest.insert(contentsOf: moved, at: terminator)
        } else {
            rest += moved
        }
        return rest
    }

    /// `field: message` for a library error (never memory contents).
    static func describe(_ error: EngramError) -> String {
        if error.code == .permissionDenied {
            return "not allowed: \(error.message)" + (error.field.map { " (\($0))" } ?? "")
        }
        if let field = error.field { return "invalid \(field): \(error.message)" }
        return error.message
    }
}
