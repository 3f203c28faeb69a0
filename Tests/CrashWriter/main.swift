// Writes batches of memories to a store in a loop, printing "committed N" after each commit (and
// "forgot N" after forgetting an older batch), until it is killed. The crash tests SIGKILL it at random
// moments and check that the store holds exactly the reported batches.
import Engram
import EngramTestSupport
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 4, let dimension = Int(arguments[2]), let batchSize = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: engram-crash-writer STORE DIMENSION BATCH [START]\n".utf8))
    exit(64)
}
let start = arguments.count > 4 ? Int(arguments[4]) ?? 0 : 0
let path = arguments[1]
/// Reports a commit unbuffered, so the parent knows about it before any later kill.
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
do {
    let store =
        MemoryStore.exists(at: path)
        ? try MemoryStore.open(at: path, options: StoreOptions(lockTimeout: .seconds(10)))
        : try MemoryStore.create(at: path, dimension: dimension)
    var batch = start
    while true {
        let vectors = Fixtures.crashBatchVectors(batch: batch, size: batchSize, dimension: dimension)
        let memories = vectors.enumerated().map { i, v in
            var memory = Fixtures.memory(
                v, index: i, namespace: "crash/b\(batch % 7)", metadata: ["batch": .number(Double(batch))])
            // distinct text: equal text in a namespace is deduplicated
            memory.content = "batch \(batch) memory \(i)"
            return memory
        }
        try store.remember(memories)
        report("committed \(batch)")
        if batch % 5 == 4 && batch >= 3 {
            try store.forget(matching: MemoryFilter(metadata: [.equals("batch", .number(Double(batch - 3)))]))
            report("forgot \(batch - 3)")
        }
        batch += 1
    }
} catch {
    FileHandle.standardError.write(Data("crash writer: \(error)\n".utf8))
    exit(1)
}
