import Engram
public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where a command reads and writes. Commands never touch the process's streams directly, so tests run
/// them in-process with captured output and scripted input.
public final class CLIIO: Sendable {
    private let stdinReader: @Sendable () -> Data
    private let outWriter: @Sendable (String) -> Void
    private let errWriter: @Sendable (String) -> Void
    /// Whether standard input is a terminal (then `remember` does not wait for JSON on it).
    public let stdinIsTerminal: Bool
    /// Whether standard error is a terminal (then `import` draws a progress bar).
    public let stderrIsTerminal: Bool
    /// The environment (for `ENGRAM_STORE`).
    public let environment: [String: String]

    /// An I/O context from closures.
    public init(
        stdin: @escaping @Sendable () -> Data, out: @escaping @Sendable (String) -> Void,
        err: @escaping @Sendable (String) -> Void, stdinIsTerminal: Bool, stderrIsTerminal: Bool,
        environment: [String: String]
    ) {
        stdinReader = stdin
        outWriter = out
        errWriter = err
        self.stdinIsTerminal = stdinIsTerminal
        self.stderrIsTerminal = stderrIsTerminal
        self.environment = environment
    }

    /// The process's own streams and environment.
    public static let standard = CLIIO(
        stdin: { FileHandle.standardInput.readDataToEndOfFile() },
        out: { FileHandle.standardOutput.write(Data($0.utf8)) },
        err: { FileHandle.standardError.write(Data($0.utf8)) },
        stdinIsTerminal: isatty(0) != 0, stderrIsTerminal: isatty(2) != 0,
        environment: ProcessInfo.processInfo.environment)

    /// The context commands use; tests bind their own with `CLIIO.$current.withValue`.
    @TaskLocal public static var current: CLIIO = .standard

    /// Reads all of standard input.
    func readStdin() -> Data { stdinReader() }
    /// Writes a line to standard output.
    func print(_ line: String) { outWriter(line + "\n") }
    /// Writes raw text to standard output.
    func write(_ text: String) { outWriter(text) }
    /// Writes a line to standard error.
    func printError(_ line: String) { errWriter(line + "\n") }
    /// Writes raw text to standard error.
    func writeError(_ text: String) { errWriter(text) }
}

/// A capturing I/O context for tests and embedding.
public final class CapturedIO: Sendable {
    private final class Buffers: Sendable {
        let text = Locked<(out: String, err: String)>(("", ""))
    }
    private let buffers = Buffers()
    /// The I/O context to pass to ``EngramCLI/run(_:io:)``.
    public let io: CLIIO

    /// Captures output; `stdin` is what commands read.
    public init(stdin: String = "", environment: [String: String] = [:]) {
        let data = Data(stdin.utf8)
        let box = buffers
        io = CLIIO(
            stdin: { data }, out: { s in box.text.withLock { $0.out += s } },
            err: { s in box.text.withLock { $0.err += s } },
            stdinIsTerminal: false, stderrIsTerminal: false, environment: environment)
    }

    /// Everything written to standard output.
    public var stdout: String { buffers.text.withLock { $0.out } }
    /// Everything written to standard error.
    public var stderr: String { buffers.text.withLock { $0.err } }
}
