// The libFuzzer entry point (`make fuzz`; built only with ENGRAM_FUZZ=1 and `--sanitize=fuzzer`, whose
// runtime provides `main`). The target comes from ENGRAM_FUZZ_TARGET.
import EngramFuzzTargets
import Foundation

let target = ProcessInfo.processInfo.environment["ENGRAM_FUZZ_TARGET"] ?? "json"

/// libFuzzer's entry point: runs the target named by `ENGRAM_FUZZ_TARGET` on one input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    FuzzTargets.run(target, Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
