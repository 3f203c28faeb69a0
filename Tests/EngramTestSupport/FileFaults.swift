import CSQLiteShim
package import Engram
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Routes SQLite's file calls to ``FileIO``'s interposer through the VFS shim (installed once per process,
/// as SQLite's default VFS; connections opened before keep the plain one). Without an interposer the
/// shim only passes calls through.
package enum SQLiteShim {
    private static let installed: Bool = {
        var hooks = shim_hooks(
            before: { call, path, handle in
                guard let interposer = FileIO.interposer, let call = FileIO.Call(rawValue: call) else {
                    return 0
                }
                return interposer.shouldFail(
                    call, path: path.map { String(cString: $0) }, handle: handle == 0 ? nil : handle) ?? 0
            },
            opened: { path, handle, created in
                guard let path else { return }
                FileIO.interposer?.record(
                    .opened(path: String(cString: path), handle: handle, created: created != 0))
            },
            wrote: { handle, bytes, count, offset in
                FileIO.interposer?.record(
                    .wrote(
                        handle: handle, offset: Int(offset),
                        bytes: UnsafeRawBufferPointer(start: bytes, count: Int(count))))
            },
            truncated: { handle, length in
                FileIO.interposer?.record(.truncated(handle: handle, length: Int(length)))
            },
            synced: { handle in FileIO.interposer?.record(.synced(handle: handle)) },
            unlinked: { path in
                guard let path else { return }
                FileIO.interposer?.record(.unlinked(path: String(cString: path)))
            },
            synced_directory: { path in
                guard let path else { return }
                FileIO.interposer?.record(.syncedDirectory(path: String(cString: path)))
            },
            closed: { handle in FileIO.interposer?.record(.closed(handle: handle)) })
        return shim_install(&hooks) == 0
    }()

    /// Installs the shim; stores opened afterwards have their SQLite calls seen by the interposer.
    package static func install() {
        precondition(installed, "the SQLite VFS shim could not be registered")
    }
}

/// Which paths and handles belong to one store directory (interposers see every store in the process).
private struct Watched {
    let directories: Set<String>
    var handles: [Int64: String] = [:]  // handle -> file name

    init(_ directory: String) {
        var names: Set<String> = [URL(fileURLWithPath: directory).standardizedFileURL.path]
        if let real = realpath(directory, nil) {
            names.insert(String(cString: real))
            free(real)
        }
        directories = names
    }

    /// The file name of `path` when it is directly inside the directory.
    func name(_ path: String) -> String? {
        let url = URL(fileURLWithPath: path)
        guard directories.contains(url.deletingLastPathComponent().standardizedFileURL.path) else {
            return nil
        }
        return url.lastPathComponent
    }

    func isDirectory(_ path: String) -> Bool {
        directories.contains(URL(fileURLWithPath: path).standardizedFileURL.path)
    }

    func owns(path: String?, handle: Int64?) -> Bool {
        if let handle { return handles[handle] != nil }
        guard let path else { return false }
        return name(path) != nil || isDirectory(path)
    }
}

/// I/O-error injection: fails the `occurrence`-th call of one kind on a store directory's files with
/// `errno`, once; counts every call meanwhile (run it with `occurrence: 0` to count a workload's calls).
package final class FaultPlan: FileInterposer, @unchecked Sendable {  // Sendable: state under `lock`.
    private struct State {
        var watched: Watched
        var counts: [FileIO.Call: Int] = [:]
        var fired: String?
    }
    private let lock = NSLock()
    private var state: State
    private let call: FileIO.Call
    private let occurrence: Int
    private let error: Int32

    package init(directory: String, failing call: FileIO.Call, occurrence: Int, errno error: Int32 = EIO) {
        state = State(watched: Watched(directory))
        self.call = call
        self.occurrence = occurrence
        self.error = error
    }

    /// How many calls of each kind reached the directory's files.
    package var counts: [FileIO.Call: Int] { lock.withLock { state.counts } }
    /// The file whose call was failed, if the plan fired.
    package var fired: String? { lock.withLock { state.fired } }

    package func shouldFail(_ call: FileIO.Call, path: String?, handle: Int64?) -> Int32? {
        lock.withLock {
            guard state.watched.owns(path: path, handle: handle) else { return nil }
            state.counts[call, default: 0] += 1
            guard call == self.call, state.counts[call] == occurrence else { return nil }
            state.fired =
                handle.flatMap { state.watched.handles[$0] }
                ?? path.map { URL(fileURLWithPath: $0).lastPathComponent }
            return error
        }
    }

    package func record(_ event: FileIO.Event) {
        lock.withLock {
            switch event {
            case .opened(let path, let handle, _):
                if let name = state.watched.name(path) { state.watched.handles[handle] = name }
            case .closed(let handle):
                state.watched.handles[handle] = nil
            default:
                break
            }
        }
    }
}

/// A power cut: records what each call on a store directory's files did, cuts the power at the
/// `cutAfter`-th call that changes a file (that call and every later one fail with EIO, as if the
/// machine had stopped), then rebuilds the directory as a machine that lost power could find it.
///
/// The model is POSIX's promise and no more: a file's content is durable up to its last `fsync` /
/// `fdatasync`, a directory's entries (create, rename, unlink) up to its last directory `fsync`. Of
/// what came after, a random prefix of each file's changes and of the directory's changes survives
/// (the kernel writes back in any order between files; a torn write inside one call is not modelled).
/// SQLite's `-shm` index is not modelled: it is rebuilt from the WAL on open.
package final class PowerCut: FileInterposer, @unchecked Sendable {  // Sendable: state under `lock`.
    private enum Change {
        case write(offset: Int, bytes: [UInt8])
        case truncate(length: Int)
    }
    private enum DirectoryChange {
        case link(name: String, file: Int)
        case remove(name: String)
        /// Atomic, as rename(2) is: the target names the source's file, or nothing changed.
        case rename(from: String, to: String)
    }
    private struct File {
        var durable: [UInt8]
        var pending: [Change] = []
    }
    private struct State {
        var watched: Watched
        var files: [Int: File] = [:]
        var names: [String: Int] = [:]
        var durableNames: [String: Int] = [:]
        var pendingNames: [DirectoryChange] = []
        var handleFiles: [Int64: Int] = [:]
        var nextFile = 0
        var calls = 0
        var cut = false
    }
    private let lock = NSLock()
    private var state: State
    private let directory: String
    private let cutAfter: Int

    /// Starts recording; the files already in `directory` count as durable.
    package init(directory: String, cutAfter: Int) {
        self.directory = directory
        self.cutAfter = cutAfter
        state = State(watched: Watched(directory))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { continue }
            state.files[state.nextFile] = File(durable: Array(data))
            state.names[name] = state.nextFile
            state.nextFile += 1
        }
        state.durableNames = state.names
    }

    /// Calls that changed a file so far (all of them, when the cut never came).
    package var calls: Int { lock.withLock { state.calls } }
    /// Whether the power is off.
    package var isCut: Bool { lock.withLock { state.cut } }

    package func shouldFail(_ call: FileIO.Call, path: String?, handle: Int64?) -> Int32? {
        lock.withLock {
            guard call != .map, state.watched.owns(path: path, handle: handle) else { return nil }
            if state.cut { return EIO }
            state.calls += 1
            guard state.calls >= cutAfter else { return nil }
            state.cut = true
            return EIO
        }
    }

    package func record(_ event: FileIO.Event) {
        lock.withLock {
            guard !state.cut else { return }
            switch event {
            case .opened(let path, let handle, let created):
                guard let name = state.watched.name(path) else { return }
                if created || state.names[name] == nil {
                    let id = state.nextFile
                    state.nextFile += 1
                    state.files[id] = File(durable: [])
                    state.names[name] = id
                    state.pendingNames.append(.link(name: name, file: id))
                }
                state.watched.handles[handle] = name
                state.handleFiles[handle] = state.names[name]
            case .wrote(let handle, let offset, let bytes):
                guard let id = file(handle) else { return }
                state.files[id]?.pending.append(.write(offset: offset, bytes: Array(bytes)))
            case .truncated(let handle, let length):
                guard let id = file(handle) else { return }
                state.files[id]?.pending.append(.truncate(length: length))
            case .synced(let handle):
                guard let id = file(handle), var file = state.files[id] else { return }
                Self.apply(file.pending, to: &file.durable)
                file.pending = []
                state.files[id] = file
            case .renamed(let from, let to):
                guard let source = state.watched.name(from), let target = state.watched.name(to),
                    let id = state.names.removeValue(forKey: source)
                else { return }
                state.names[target] = id
                state.pendingNames.append(.rename(from: source, to: target))
            case .unlinked(let path):
                guard let name = state.watched.name(path), state.names.removeValue(forKey: name) != nil else {
                    return
                }
                state.pendingNames.append(.remove(name: name))
            case .syncedDirectory(let path):
                guard state.watched.isDirectory(path) else { return }
                state.durableNames = state.names
                state.pendingNames = []
            case .closed(let handle):
                state.watched.handles[handle] = nil
                state.handleFiles[handle] = nil
            }
        }
    }

    private func file(_ handle: Int64) -> Int? { state.handleFiles[handle] }

    private static func apply(_ changes: some Sequence<Change>, to bytes: inout [UInt8]) {
        for change in changes {
            switch change {
            case .write(let offset, let data):
                if bytes.count < offset + data.count {
                    bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count)
                }
                bytes.replaceSubrange(offset..<(offset + data.count), with: data)
            case .truncate(let length):
                if length < bytes.count {
                    bytes.removeLast(bytes.count - length)
                } else {
                    bytes += [UInt8](repeating: 0, count: length - bytes.count)
                }
            }
        }
    }

    /// Replaces the directory's files with what survived the cut, choosing with `rng` how much of what
    /// was not synced survives. Call it once every handle on the store is closed. Returns a line per
    /// file describing the choice, for a failure message.
    @discardableResult
    package func restore(using rng: inout SeededGenerator) throws -> [String] {
        let (files, names, pendingNames) = lock.withLock {
            (state.files, state.durableNames, state.pendingNames)
        }
        var survivors = names
        let keptNames = Int(rng.next() % UInt64(pendingNames.count + 1))
        for change in pendingNames.prefix(keptNames) {
            switch change {
            case .link(let name, let id): survivors[name] = id
            case .remove(let name): survivors[name] = nil
            case .rename(let from, let to): survivors[to] = survivors.removeValue(forKey: from)
            }
        }
        var log = ["directory: \(keptNames) of \(pendingNames.count) unsynced entry changes kept"]
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: directory) {
            try fm.removeItem(atPath: directory + "/" + name)
        }
        for (name, id) in survivors.sorted(by: { $0.key < $1.key }) {
            guard let file = files[id] else { continue }
            let kept = Int(rng.next() % UInt64(file.pending.count + 1))
            var bytes = file.durable
            Self.apply(file.pending.prefix(kept), to: &bytes)
            log.append(
                "\(name): \(bytes.count) bytes, \(kept) of \(file.pending.count) unsynced changes kept")
            guard fm.createFile(atPath: directory + "/" + name, contents: Data(bytes)) else {
                throw EngramError(.io, "cannot rebuild \(name)")
            }
        }
        return log
    }
}
