import EngramBenchSupport
import Foundation
import Testing

@testable import Engram

/// The encoder's C kernels against plain Swift written from the definitions, accumulated in Double.
@Suite("Encoder kernels")
struct EncoderKernelTests {
    static func random(_ count: Int, _ generator: inout SeededGenerator, scale: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(generator.gaussian() * scale) }
    }

    static func gelu(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }

    /// The register tiles this CPU runs (the 16-lane one needs AVX-512).
    static let tiles = BLAS.Tile.allCases.filter { $0 != .auto && $0.isSupported }

    /// Rows from 1 to past two row groups (remainder blocks of every size for both tiles), inputs not a
    /// multiple of the unrolling, outputs of one to three panels, on every tile the CPU runs.
    @Test(
        "linear = x·Wᵀ + b with each epilogue, in float32 and half-precision weights",
        arguments: [(1, 5, 16), (7, 33, 32), (13, 384, 48), (50, 1536, 16), (3, 384, 32), (35, 384, 16)],
        tiles)
    func linear(shape: (rows: Int, inputs: Int, outputs: Int), tile: BLAS.Tile) throws {
        let (rows, inputs, outputs) = shape
        var g = SeededGenerator(seed: UInt64(rows * 1000 + inputs))
        let x = Self.random(rows * inputs, &g)
        let w = Self.random(outputs * inputs, &g, scale: 1 / Double(inputs).squareRoot())
        let bias = Self.random(outputs, &g)
        let residual = Self.random(rows * outputs, &g)
        let full = w.withUnsafeBufferPointer { BLAS.packPanels($0, outputs: outputs, inputs: inputs) }
        let half = w.withUnsafeBufferPointer { BLAS.packHalfPanels($0, outputs: outputs, inputs: inputs) }
        let roundedWeights = BLAS.floats(fromHalf: BLAS.halves(fromFloats: w), count: w.count)

        for level in KernelLevel.runnable {  // every kernel variant this CPU runs, against the same sums
            KernelLevel.on(level) { _ in
                for epilogue in [BLAS.Epilogue.none, .gelu, .add] {
                    for halfWeights in [false, true] {
                        let weights = halfWeights ? roundedWeights : w
                        var out =
                            epilogue == .add ? residual : [Float](repeating: .nan, count: rows * outputs)
                        x.withUnsafeBufferPointer { xp in
                            bias.withUnsafeBufferPointer { bp in
                                out.withUnsafeMutableBufferPointer { op in
                                    if halfWeights {
                                        half.withUnsafeBufferPointer { wp in
                                            BLAS.linear(
                                                xp.baseAddress!, rows: rows, inputs: inputs,
                                                packedHalves: wp.baseAddress!,
                                                bias: bp.baseAddress!, outputs: outputs,
                                                into: op.baseAddress!,
                                                outStride: outputs, epilogue: epilogue, tile: tile)
                                        }
                                    } else {
                                        full.withUnsafeBufferPointer { wp in
                                            BLAS.linear(
                                                xp.baseAddress!, rows: rows, inputs: inputs,
                                                packed: wp.baseAddress!,
                                                bias: bp.baseAddress!, outputs: outputs,
                                                into: op.baseAddress!,
                                                outStride: outputs, epilogue: epilogue, tile: tile)
                                        }
                                    }
                                }
                            }
                        }
                        var worst = 0.0
                        for r in 0..<rows {
                            for o in 0..<outputs {
                                var y = Double(bias[o])
                                for k in 0..<inputs {
                                    y += Double(x[r * inputs + k]) * Double(weights[o * inputs + k])
                                }
                                switch epilogue {
                                case .none: break
                                case .gelu: y = Self.gelu(y)
                                case .add: y += Double(residual[r * outputs + o])
                                }
                                worst = max(worst, abs(Double(out[r * outputs + o]) - y) / max(1, abs(y)))
                            }
                        }
                        #expect(
                            worst < 2e-5,
                            "\(tile) \(level) \(epilogue) half=\(halfWeights): relative error \(worst)")
                    }
                }
            }
        }
    }

    @Test(
        "the 16-lane tile is chosen exactly when the CPU reports AVX-512, bfloat16 weights when it has AVX512_BF16"
    )
    func tileChoice() throws {
        let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        guard let flags = cpuinfo?.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            return
        }  // not Linux x86
        let names = flags.split(separator: " ")
        let avx512 = names.contains("avx512f")
        #expect(BLAS.Tile.chosen == (avx512 ? .lanes16 : .lanes8))
        #expect(BLAS.Tile.lanes16.isSupported == avx512)
        let bf16 = avx512 && names.contains("avx512_bf16")
        #expect(BLAS.bfloat16Supported == bf16)
        #expect(MiniLMEmbedder.WeightPrecision.preferred == (bf16 ? .bfloat16 : .float16))
    }

    /// A float rounded to bfloat16 (its top 16 bits, to nearest, ties to even), written from the definition.
    static func bfloat16(_ f: Float) -> Double {
        let bits = f.bitPattern
        let lower = bits & 0xFFFF
        var upper = bits >> 16
        if lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) { upper += 1 }
        return Double(Float(bitPattern: upper << 16))
    }

    /// The bfloat16 kernel: its 16-lane dot-product path where the CPU has it (`lanes16`), and the plain
    /// loop every CPU runs (`lanes8`), against Double sums of the bfloat16-rounded inputs and weights.
    @Test(
        "bfloat16 linear = round(x)·round(W)ᵀ + b with each epilogue, and a range of panels is exactly its columns",
        arguments: [(1, 2, 16), (7, 34, 32), (13, 384, 48), (50, 1536, 16), (3, 384, 32), (35, 384, 16)],
        [BLAS.Tile.lanes8] + (BLAS.bfloat16Supported ? [BLAS.Tile.lanes16] : []))
    func linearBFloat16(shape: (rows: Int, inputs: Int, outputs: Int), tile: BLAS.Tile) throws {
        let (rows, inputs, outputs) = shape
        var g = SeededGenerator(seed: UInt64(rows * 1000 + inputs + 1))
        let x = Self.random(rows * inputs, &g)
        let w = Self.random(outputs * inputs, &g, scale: 1 / Double(inputs).squareRoot())
        let bias = Self.random(outputs, &g)
        let residual = Self.random(rows * outputs, &g)
        let packed = w.withUnsafeBufferPointer {
            BLAS.packBFloat16Panels($0, outputs: outputs, inputs: inputs)
        }
        func product(_ epilogue: BLAS.Epilogue, panels: Range<Int>, into out: inout [Float]) {
            let p = BLAS.panelWidth
            x.withUnsafeBufferPointer { xp in
                bias.withUnsafeBufferPointer { bp in
                    packed.withUnsafeBufferPointer { wp in
                        out.withUnsafeMutableBufferPointer { op in
                            BLAS.linear(
                                xp.baseAddress!, rows: rows, inputs: inputs,
                                packedBFloat16: wp.baseAddress! + panels.lowerBound * inputs * p,
                                bias: bp.baseAddress! + panels.lowerBound * p, outputs: panels.count * p,
                                into: op.baseAddress! + panels.lowerBound * p, outStride: outputs,
                                epilogue: epilogue,
                                tile: tile)
                        }
                    }
                }
            }
        }
        let panels = outputs / BLAS.panelWidth
        for epilogue in [BLAS.Epilogue.none, .gelu, .add] {
            var out = epilogue == .add ? residual : [Float](repeating: .nan, count: rows * outputs)
            product(epilogue, panels: 0..<panels, into: &out)
            var worst = 0.0
            for r in 0..<rows {
                for o in 0..<outputs {
                    var y = Double(bias[o])
                    for k in 0..<inputs {
                        y += Self.bfloat16(x[r * inputs + k]) * Self.bfloat16(w[o * inputs + k])
                    }
                    switch epilogue {
                    case .none: break
                    case .gelu: y = Self.gelu(y)
                    case .add: y += Double(residual[r * outputs + o])
                    }
                    worst = max(worst, abs(Double(out[r * outputs + o]) - y) / max(1, abs(y)))
                }
            }
            #expect(worst < 2e-5, "\(tile) \(epilogue): relative error \(worst)")
            if epilogue == .none, panels > 1 {
                var pieces = [Float](repeating: .nan, count: rows * outputs)
                product(.none, panels: 0..<1, into: &pieces)
                product(.none, panels: 1..<panels, into: &pieces)
                #expect(pieces == out)
            }
        }
    }

    @Test("a range of panels computes exactly its columns of the whole product", arguments: tiles)
    func panelRange(tile: BLAS.Tile) {
        var g = SeededGenerator(seed: 7)
        let (rows, inputs, outputs) = (9, 40, 64)
        let x = Self.random(rows * inputs, &g)
        let w = Self.random(outputs * inputs, &g)
        let bias = Self.random(outputs, &g)
        let packed = w.withUnsafeBufferPointer { BLAS.packPanels($0, outputs: outputs, inputs: inputs) }
        var whole = [Float](repeating: 0, count: rows * outputs)
        var pieces = [Float](repeating: .nan, count: rows * outputs)
        let p = BLAS.panelWidth
        x.withUnsafeBufferPointer { xp in
            bias.withUnsafeBufferPointer { bp in
                packed.withUnsafeBufferPointer { wp in
                    whole.withUnsafeMutableBufferPointer { op in
                        BLAS.linear(
                            xp.baseAddress!, rows: rows, inputs: inputs, packed: wp.baseAddress!,
                            bias: bp.baseAddress!,
                            outputs: outputs, into: op.baseAddress!, outStride: outputs, epilogue: .none,
                            tile: tile)
                    }
                    pieces.withUnsafeMutableBufferPointer { op in
                        for (first, count) in [(0, 1), (1, 2), (3, 1)] {
                            BLAS.linear(
                                xp.baseAddress!, rows: rows, inputs: inputs,
                                packed: wp.baseAddress! + first * inputs * p,
                                bias: bp.baseAddress! + first * p, outputs: count * p,
                                into: op.baseAddress! + first * p,
                                outStride: outputs, epilogue: .none, tile: tile)
                        }
                    }
                }
            }
        }
        #expect(pieces == whole)
    }

    @Test("LayerNorm normalises each row, then scales and shifts")
    func layerNorm() {
        var g = SeededGenerator(seed: 11)
        let (rows, width) = (5, 384)
        let x = Self.random(rows * width, &g, scale: 3).map { $0 + 2 }
        let weight = Self.random(width, &g)
        let bias = Self.random(width, &g)
        var y = x
        y.withUnsafeMutableBufferPointer { yp in
            BLAS.layerNorm(
                yp.baseAddress!, rows: rows, width: width, weight: weight, bias: bias, epsilon: 1e-12)
        }
        for r in 0..<rows {
            let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
            let mean = row.reduce(0, +) / Double(width)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
            for j in 0..<width {
                let expected =
                    (row[j] - mean) / (variance + 1e-12).squareRoot() * Double(weight[j]) + Double(bias[j])
                #expect(abs(Double(y[r * width + j]) - expected) < 1e-5)
            }
        }
    }

    /// Below 16 tokens attention runs pair by pair, from 16 on as two packed products per head.
    @Test(
        "attention = softmax(scale q kᵀ) v per head, rows of any stride", arguments: [1, 6, 15, 16, 37, 130])
    func attention(length: Int) {
        var g = SeededGenerator(seed: UInt64(length))
        let (heads, width) = (3, 32)
        let h = heads * width
        let stride = 3 * h  // q, k and v side by side in each row, as the encoder lays them out
        let qkv = Self.random(length * stride, &g, scale: 2)
        var context = [Float](repeating: .nan, count: length * h)
        let scale: Float = 1 / Float(width).squareRoot()
        qkv.withUnsafeBufferPointer { p in
            let rows = p.baseAddress!
            BLAS.attention(
                q: rows, k: rows + h, v: rows + 2 * h, length: length, stride: stride, heads: heads,
                width: width,
                scale: scale, context: &context, contextStride: h)
        }
        for head in 0..<heads {
            for i in 0..<length {
                let logits = (0..<length).map { j in
                    (0..<width).reduce(0.0) { sum, d in
                        sum + Double(qkv[i * stride + head * width + d])
                            * Double(qkv[j * stride + h + head * width + d])
                    } * Double(scale)
                }
                let top = logits.max()!
                let weights = logits.map { exp($0 - top) }
                let total = weights.reduce(0, +)
                for d in 0..<width {
                    let expected = (0..<length).reduce(0.0) { sum, j in
                        sum + weights[j] / total * Double(qkv[j * stride + 2 * h + head * width + d])
                    }
                    #expect(abs(Double(context[i * h + head * width + d]) - expected) < 1e-5)
                }
            }
        }
    }

    @Test("the weight arena hands out aligned, disjoint blocks that hold what is written")
    func weightArena() throws {
        let arena = try WeightArena(bytes: 3 * 1000 * 4 + 7 * 2, parts: 4)
        let a = arena.allocate(Float.self, count: 1000)
        let b = arena.allocate(UInt16.self, count: 7)
        let c = arena.allocate(Float.self, count: 1000)
        let d = arena.allocate(Float.self, count: 1000)
        let blocks: [(UnsafeMutableRawPointer, Int)] = [
            (.init(a), 4000), (.init(b), 14), (.init(c), 4000), (.init(d), 4000),
        ]
        for (start, _) in blocks { #expect(Int(bitPattern: start) % 64 == 0) }
        for (i, x) in blocks.enumerated() {
            for y in blocks[(i + 1)...] { #expect(x.0 + x.1 <= y.0, "blocks in order and apart") }
        }
        for i in 0..<1000 { (a[i], c[i], d[i]) = (Float(i), Float(-i), Float(2 * i)) }
        for i in 0..<7 { b[i] = UInt16(i) }
        #expect((0..<1000).allSatisfy { a[$0] == Float($0) && c[$0] == Float(-$0) && d[$0] == Float(2 * $0) })
        #expect((0..<7).allSatisfy { b[$0] == UInt16($0) })
    }
}
