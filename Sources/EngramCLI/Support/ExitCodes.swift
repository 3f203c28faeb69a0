import Engram
import EngramService
import Foundation

/// The `engram` exit codes (documented in the README). They follow `sysexits.h` where one fits.
public enum ExitStatus {
    /// Success.
    public static let ok: Int32 = 0
    /// A health check failed, a bulk action was refused without `--yes`, or an unexpected error.
    public static let failure: Int32 = 1
    /// Bad command-line usage (unknown flag, missing argument).
    public static let usage: Int32 = 64
    /// Bad input data: a field broke a rule, wrong dimension, malformed JSON.
    public static let invalidInput: Int32 = 65
    /// No store, memory or entry with that name.
    public static let notFound: Int32 = 66
    /// `init` found a store already there.
    public static let alreadyExists: Int32 = 73
    /// A file-system or SQLite error.
    public static let ioError: Int32 = 74
    /// Another process holds the store's writer lock.
    public static let locked: Int32 = 75
    /// The store's files are damaged.
    public static let corrupt: Int32 = 76
    /// `$ENGRAM_SCOPE` does not allow it: a namespace outside the scope, an action it lacks, or a
    /// command that needs the whole store.
    public static let permissionDenied: Int32 = 77
    /// The store was written by a newer Engram.
    public static let tooNew: Int32 = 78

    /// The exit status for a library error.
    static func forError(_ error: EngramError) -> Int32 {
        switch error.code {
        case .invalidArgument, .dimensionMismatch, .embedderMismatch, .tooLarge: return invalidInput
        case .notFound: return notFound
        case .alreadyExists: return alreadyExists
        case .io, .sqlite, .notWritable: return ioError
        case .locked: return locked
        case .storageCorrupted: return corrupt
        case .permissionDenied: return permissionDenied
        case .schemaTooNew: return tooNew
        default: return failure
        }
    }
}

/// An error that carries its own exit status and message (refusals, failed health checks).
struct CommandFailure: Error {
    var status: Int32
    var message: String?
}
