internal import CBLAS
internal import CKernels
import Foundation

/// The only door to OpenBLAS and to Engram's C kernels. Everything else in Engram calls these functions.
package enum BLAS {
    /// The name of the kernel set OpenBLAS chose for this CPU (`"SkylakeX"`, `"Haswell"`, `"Prescott"`...).
    static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build configuration string.
    static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }

    /// Sets how many threads OpenBLAS may use for one call. Engram defaults to 1: it runs recalls
    /// concurrently itself, and nested BLAS threads would fight them for 2 cores.
    static func setThreadCount(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// Which single-query scan runs: OpenBLAS sgemv, or Engram's own C kernel (`ENGRAM_SCAN_KERNEL=c`
    /// or `blas`, read once; a benchmarking knob). The default is the one measured faster here.
    static let useCKernel: Bool =
        ProcessInfo.processInfo.environment["ENGRAM_SCAN_KERNEL"].map { $0 == "c" } ?? true

    /// `out[r] = dot(rows[r], query)` for `count` rows laid out `stride` floats apart.
    /// - Complexity: O(count × dimension), one pass over the rows.
    static func scores(
        rows: UnsafePointer<Float>, count: Int, dimension: Int, stride: Int,
        query: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        guard count > 0 else { return }
        if useCKernel {
            engram_scores_f32(rows, count, dimension, stride, query, out)
            return
        }
        // invariant
        precondition(count <= Int(Int32.max) && stride <= Int(Int32.max), "BLAS sizes are 32-bit")
        cblas_sgemv(
            CblasRowMajor, CblasNoTrans, Int32(count), Int32(dimension), 1, rows, Int32(stride), query, 1, 0,
            out, 1)
    }

    /// `out[q][r] = dot(queries[q], rows[r])`: one sgemm for a tile of rows and a batch of queries.
    /// `out` is `queryCount` rows of `count` scores each.
    /// - Complexity: O(queryCount × count × dimension) arithmetic, one pass over the rows.
    /// `out[q * count + r] = dot(rows[r], queries[q])` for a small batch, four queries per pass
    /// (queries `dimension` floats apart).
    static func smallBatchScores(
        rows: UnsafePointer<Float>, count: Int, dimension: Int, stride: Int,
        queries: UnsafePointer<Float>, queryCount: Int, into out: UnsafeMutablePointer<Float>
    ) {
        guard count > 0, queryCount > 0 else { return }
        if useCKernel {
            engram_scores_multi_f32(rows, count, dimension, stride, queries, queryCount, out)
            return
        }
        for q in 0..<queryCount {
            scores(
                rows: rows, count: count, dimension: dimension, stride: stride,
                query: queries + q * dimension,
                into: out + q * count)
        }
    }

    package static func batchScores(
        rows: UnsafePointer<Float>, count: Int, dimension: Int, stride: Int,
        queries: UnsafePointer<Float>, queryCount: Int, queryStride: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        guard count > 0, queryCount > 0 else { return }
        // invariant
        precondition(count <= Int(Int32.max) && queryCount <= Int(Int32.max), "BLAS sizes are 32-bit")
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(queryCount), Int32(count), Int32(dimension),
            1, queries, Int32(queryStride), rows, Int32(stride), 0, out, Int32(count))
    }

    /// `out[r] = dot(rows[r], query)` for half-precision rows `stride` halves apart: fused convert and
    /// multiply, one pass over half the bytes of float32.
    static func scores(
        halfRows rows: UnsafePointer<UInt16>, count: Int, dimension: Int, stride: Int,
        query: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        guard count > 0 else { return }
        engram_scores_f16(rows, count, dimension, stride, query, out)
    }

    /// Floats rounded to half precision (as bit patterns).
    static func halves(fromFloats values: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                engram_f32_to_f16(s, d, values.count)
            }
        }
        return out
    }

    /// Half-precision values widened to floats.
    static func floats(fromHalf source: UnsafePointer<UInt16>, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            guard let d = dst.baseAddress else { return }
            engram_f16_to_f32(source, d, count)
        }
        return out
    }

    /// Writes the positions of `scores` above `threshold` (in order) to `out`, which holds `count`,
    /// and returns how many.
    static func indices(
        of scores: UnsafePointer<Float>, count: Int, above threshold: Float,
        into out: UnsafeMutablePointer<Int32>
    ) -> Int {
        engram_indices_above(scores, count, threshold, out)
    }

    /// Widens `count` halves into `destination`.
    static func widen(
        _ source: UnsafePointer<UInt16>, into destination: UnsafeMutablePointer<Float>, count: Int
    ) {
        engram_f16_to_f32(source, destination, count)
    }

    /// Output columns per packed weight panel (a packed layer's output count is a multiple of it).
    static let panelWidth = Int(ENGRAM_PANEL_WIDTH)

    /// A PyTorch-layout weight matrix (`outputs × inputs`, row-major) repacked for ``linear``: panels of
    /// ``panelWidth`` output columns, each stored input by input, so a product streams it front to back.
    static func packPanels(_ weights: UnsafeBufferPointer<Float>, outputs: Int, inputs: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: outputs * inputs) { packed, initialized in
            if let p = packed.baseAddress { packPanels(weights, outputs: outputs, inputs: inputs, into: p) }
            initialized = outputs * inputs
        }
    }

    /// ``packPanels(_:outputs:inputs:)`` into memory the caller provides (`outputs × inputs` floats).
    static func packPanels(
        _ weights: UnsafeBufferPointer<Float>, outputs: Int, inputs: Int,
        into packed: UnsafeMutablePointer<Float>
    ) {
        // invariant
        precondition(outputs % panelWidth == 0 && weights.count == outputs * inputs, "panel shape")
        if let w = weights.baseAddress { engram_pack_panels(w, outputs, inputs, packed) }
    }

    /// ``packPanels(_:outputs:inputs:)`` with every weight rounded to half precision (bit patterns):
    /// half the bytes to stream for every product.
    static func packHalfPanels(_ weights: UnsafeBufferPointer<Float>, outputs: Int, inputs: Int) -> [UInt16] {
        [UInt16](unsafeUninitializedCapacity: outputs * inputs) { packed, initialized in
            if let p = packed.baseAddress {
                packHalfPanels(weights, outputs: outputs, inputs: inputs, into: p)
            }
            initialized = outputs * inputs
        }
    }

    /// ``packHalfPanels(_:outputs:inputs:)`` into memory the caller provides (`outputs × inputs` halves).
    static func packHalfPanels(
        _ weights: UnsafeBufferPointer<Float>, outputs: Int, inputs: Int,
        into packed: UnsafeMutablePointer<UInt16>
    ) {
        // invariant
        precondition(outputs % panelWidth == 0 && weights.count == outputs * inputs, "panel shape")
        if let w = weights.baseAddress { engram_pack_panels_f16(w, outputs, inputs, packed) }
    }

    /// Whether this CPU runs bfloat16 dot products (AVX512_BF16), which ``packBFloat16Panels`` weights use.
    static var bfloat16Supported: Bool { engram_bf16_supported() != 0 }

    /// ``packPanels(_:outputs:inputs:)`` with every weight rounded to bfloat16, two consecutive inputs per
    /// 32-bit pair (bit patterns, `outputs × inputs` of them); `inputs` must be even.
    static func packBFloat16Panels(
        _ weights: UnsafeBufferPointer<Float>, outputs: Int, inputs: Int,
        into packed: UnsafeMutablePointer<UInt16>
    ) {
        precondition(
            // invariant
            outputs % panelWidth == 0 && inputs % 2 == 0 && weights.count == outputs * inputs, "panel shape")
        if let w = weights.baseAddress { engram_pack_panels_bf16(w, outputs, inputs, packed) }
    }

    /// ``packBFloat16Panels(_:outputs:inputs:into:)`` into a new array.
    static func packBFloat16Panels(_ weights: UnsafeBufferPointer<Float>, outputs: Int, inputs: Int)
        -> [UInt16]
    {
        [UInt16](unsafeUninitializedCapacity: outputs * inputs) { packed, initialized in
            if let p = packed.baseAddress {
                packBFloat16Panels(weights, outputs: outputs, inputs: inputs, into: p)
            }
            initialized = outputs * inputs
        }
    }

    /// What ``linear`` does with each output after the product and the bias.
    enum Epilogue {
        /// `out = x·Wᵀ + b`.
        case none
        /// `out = gelu(x·Wᵀ + b)`, erf form, float-accurate.
        case gelu
        /// `out += x·Wᵀ + b`: a residual sum.
        case add

        var c: engram_epilogue {
            switch self {
            case .none: ENGRAM_EPILOGUE_NONE
            case .gelu: ENGRAM_EPILOGUE_GELU
            case .add: ENGRAM_EPILOGUE_ADD
            }
        }
    }

    /// The register tile of ``linear``: 16-float vectors where the CPU has AVX-512, else 8-float ones. Both
    /// accumulate each output over the inputs in the same order with fused multiply-adds, so on one CPU
    /// they agree to the bit (checked on this project's machine); the 8-lane code of CPUs without FMA
    /// rounds each product separately.
    enum Tile: String, CaseIterable, Sendable {
        /// The widest tile the CPU runs.
        case auto
        /// 8-float vectors, 6 rows at a time.
        case lanes8 = "8-lane"
        /// 16-float vectors, 12 rows at a time (AVX-512).
        case lanes16 = "16-lane"

        /// Whether this CPU runs the tile.
        var isSupported: Bool { self != .lanes16 || engram_tile16_supported() != 0 }

        /// What `auto` is on this CPU.
        static var chosen: Tile { engram_tile16_supported() != 0 ? .lanes16 : .lanes8 }

        var c: engram_tile {
            switch self {
            case .auto: ENGRAM_TILE_AUTO
            case .lanes8: ENGRAM_TILE_8
            case .lanes16: ENGRAM_TILE_16
            }
        }
    }

    /// `out (rows × outputs, rows outStride apart) = epilogue(x (rows × inputs) · Wᵀ + bias)`, W packed by
    /// ``packPanels``. A range of panels is a product of its own (offset `packed` by
    /// `p × inputs × panelWidth`, `bias` and `out` by `p × panelWidth`), which is how threads share one.
    /// - Complexity: O(rows × inputs × outputs), the weights read once per small group of rows.
    static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inputs: Int, packed: UnsafePointer<Float>,
        bias: UnsafePointer<Float>,
        outputs: Int, into out: UnsafeMutablePointer<Float>, outStride: Int, epilogue: Epilogue,
        tile: Tile = .auto
    ) {
        engram_linear(x, rows, inputs, packed, bias, outputs, out, outStride, epilogue.c, tile.c)
    }

    /// ``linear(_:rows:inputs:packed:bias:outputs:into:outStride:epilogue:)`` with weights packed by
    /// ``packHalfPanels(_:outputs:inputs:)``, widened to float as they are read.
    static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inputs: Int, packedHalves: UnsafePointer<UInt16>,
        bias: UnsafePointer<Float>, outputs: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
        epilogue: Epilogue, tile: Tile = .auto
    ) {
        engram_linear_f16(x, rows, inputs, packedHalves, bias, outputs, out, outStride, epilogue.c, tile.c)
    }

    /// ``linear(_:rows:inputs:packed:bias:outputs:into:outStride:epilogue:tile:)`` with weights packed by
    /// ``packBFloat16Panels(_:outputs:inputs:into:)``: the inputs are rounded to bfloat16 too and each pair
    /// of products is summed into float32 by the CPU's dot-product instruction; `tile` ``Tile/lanes8``, or a
    /// CPU without that instruction, computes the same rounded products one by one (slowly). Panel ranges
    /// offset as for half-precision weights.
    static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inputs: Int, packedBFloat16: UnsafePointer<UInt16>,
        bias: UnsafePointer<Float>, outputs: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
        epilogue: Epilogue, tile: Tile = .auto
    ) {
        precondition(inputs % 2 == 0, "bfloat16 panels hold input pairs")  // invariant
        engram_linear_bf16(x, rows, inputs, packedBFloat16, bias, outputs, out, outStride, epilogue.c, tile.c)
    }

    /// LayerNorm of each row of `width` in place, statistics in Double.
    static func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, epsilon: Float
    ) {
        engram_layer_norm(x, rows, width, weight, bias, epsilon)
    }

    /// Multi-head scaled dot-product attention over one sequence of `length` rows: q, k and v rows
    /// `stride` floats apart, context rows `contextStride` apart.
    /// - Complexity: O(length² × heads × width).
    static func attention(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, length: Int, stride: Int,
        heads: Int, width: Int, scale: Float, context: UnsafeMutablePointer<Float>, contextStride: Int
    ) {
        engram_attention(q, k, v, length, stride, heads, width, scale, context, contextStride)
    }

    /// The dot product of two vectors.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension: Int) -> Float {
        cblas_sdot(Int32(dimension), a, 1, b, 1)
    }
}

/// The SIMD kernels Engram's own scans, index code scans and MiniLM encoder run. Each is compiled for
/// AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline x86-64; a process uses the widest its CPU runs,
/// or the narrower level `$ENGRAM_KERNELS` names (`avx512`, `avx2`, `baseline`; `auto` is the default),
/// read at the first scan: to measure one CPU's path on another, or to set aside a kernel suspected of a
/// fault. A level above what the CPU runs is lowered to what it runs.
public enum KernelLevel: String, Sendable, Codable, CaseIterable {
    case baseline, avx2, avx512

    /// The level in use.
    public static var current: KernelLevel { KernelLevel(engram_kernel_level()) }

    /// The widest level this CPU runs.
    public static var supported: KernelLevel { KernelLevel(engram_kernel_level_supported()) }

    /// Every level this CPU runs, narrowest first.
    package static var runnable: [KernelLevel] { Array(allCases.prefix { $0 != supported } + [supported]) }

    /// Whether `value` is one `$ENGRAM_KERNELS` may hold (a level's name or `auto`).
    public static func understands(_ value: String) -> Bool { engram_kernel_level_named(value) >= 0 }

    /// Runs `body` with this thread's kernel calls at `level` (lowered to what the CPU runs, which is
    /// passed to `body`), other threads unaffected: for tests that hold each level to the same oracles.
    /// `body` must stay on the calling thread (no `await`, no parallel scan).
    package static func on<T>(_ level: KernelLevel, _ body: (KernelLevel) throws -> T) rethrows -> T {
        let used = KernelLevel(engram_use_kernel_level_on_this_thread(level.code))
        defer { engram_use_kernel_level_on_this_thread(0) }
        return try body(used)
    }

    /// The OpenBLAS core type whose kernels use the same instructions.
    var openBLASCore: String {
        switch self {
        case .avx512: "SkylakeX"
        case .avx2: "Haswell"
        case .baseline: "Prescott"
        }
    }

    private var code: Int32 {
        switch self {
        case .avx512: Int32(ENGRAM_KERNELS_AVX512.rawValue)
        case .avx2: Int32(ENGRAM_KERNELS_AVX2.rawValue)
        case .baseline: Int32(ENGRAM_KERNELS_BASELINE.rawValue)
        }
    }

    private init(_ code: Int32) {
        self = Self.allCases.first { $0.code == code } ?? .baseline
    }
}

/// Makes sure OpenBLAS runs kernels meant for this CPU.
///
/// Debian's OpenBLAS 0.3.21 picks kernels by CPU model, and models it does not know get less than the
/// CPU can do: recent Intel CPUs fall back to its slowest (Prescott, SSE3) kernels, 2.5-3.5x slower, and
/// AMD CPUs with AVX-512 (Zen 4, Zen 5) get its AVX2 (Haswell, Zen) kernels, about 0.65x of its AVX-512
/// ones there. It picks in a library constructor, before `main`, so the only fix from inside a process
/// is to set `OPENBLAS_CORETYPE` and re-execute. Executables call ``ensureProperKernels()`` first thing;
/// libraries should not, since re-exec replaces the process.
public enum OpenBLASKernels {
    /// The kernel set OpenBLAS is using.
    public static var activeCore: String { BLAS.coreName }

    /// OpenBLAS core types whose kernels use AVX-512, and those whose kernels use at least AVX2 + FMA.
    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]
    static let avx2Cores: Set<String> = avx512Cores.union(["Haswell", "Zen"])

    /// The instructions an OpenBLAS core type's kernels use, as a ``KernelLevel``.
    package static func level(ofCore core: String) -> KernelLevel {
        avx512Cores.contains(core) ? .avx512 : avx2Cores.contains(core) ? .avx2 : .baseline
    }

    /// The core type to force on this CPU, or nil when OpenBLAS's own choice is fine: the AVX-512
    /// kernels when the CPU has the AVX-512 subsets they use and OpenBLAS chose others, the AVX2 kernels
    /// when it has AVX2 and FMA and OpenBLAS chose older ones. Nothing for a CPU with neither.
    public static func recommendedCoreType(cpuFlags: String, activeCore: String) -> String? {
        let flags = Set(cpuFlags.split(separator: " ").map(String.init))
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) {
            return avx512Cores.contains(activeCore) ? nil : "SkylakeX"
        }
        if flags.contains("avx2") && flags.contains("fma") {
            return avx2Cores.contains(activeCore) ? nil : "Haswell"
        }
        return nil
    }

    /// Re-executes the current process with `OPENBLAS_CORETYPE` set when OpenBLAS picked kernels below
    /// what the CPU supports (``recommendedCoreType(cpuFlags:activeCore:)``), or other than those of the
    /// level `$ENGRAM_KERNELS` names (``KernelLevel``: so that forcing `avx2` forces the whole exact path,
    /// OpenBLAS's batches included). Does nothing when `OPENBLAS_CORETYPE` is already set (a user's choice
    /// wins), when the kernels are already right, or off Linux. Costs about 20 ms when it fires; returns
    /// normally otherwise (also when exec fails: the program then runs, only slower).
    public static func ensureProperKernels() {
        #if os(Linux)
            let environment = ProcessInfo.processInfo.environment
            guard environment["OPENBLAS_CORETYPE"] == nil,
                let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
                let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
            else { return }
            let target: String?
            if environment["ENGRAM_KERNELS"].flatMap(KernelLevel.init(rawValue:)) != nil {
                let level = KernelLevel.current  // the request, lowered to what the CPU runs
                target = level == Self.level(ofCore: activeCore) ? nil : level.openBLASCore
            } else {
                target = recommendedCoreType(cpuFlags: String(flagsLine), activeCore: activeCore)
            }
            guard let target else { return }
            setenv("OPENBLAS_CORETYPE", target, 1)
            var args: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) }
            args.append(nil)
            execv("/proc/self/exe", &args)
        #endif
    }
}
