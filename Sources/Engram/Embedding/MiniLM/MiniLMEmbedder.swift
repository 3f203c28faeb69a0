import Foundation

/// The all-MiniLM-L6-v2 sentence encoder (384 dimensions), run natively from the published weights: no
/// Python, no network, the same vectors as sentence-transformers (cosine ≥ 0.9999 in the tests; the
/// half-precision weights stay within 0.9999995 of the float32 forward pass).
///
/// Pipeline: BERT uncased WordPiece (at most 256 tokens with `[CLS]`/`[SEP]`), word + position +
/// token-type embeddings and LayerNorm, 6 layers of 12-head self-attention and a 1536-wide
/// feed-forward with exact (erf) GELU, mean pooling over the tokens, L2 normalisation.
///
/// A batch is packed rather than padded: the tokens of all its texts form one matrix, so every linear
/// layer is one matrix product that reads the weights once per batch, while attention runs per text on
/// its own rows. No padding means no attention mask and no wasted rows. The linear layers run on
/// Engram's own kernel against weights packed once at load (OpenBLAS would repack them on every call),
/// with the bias, the GELU and the residual sums fused into the product; `threads` share each product's
/// output columns.
public final class MiniLMEmbedder: Embedder, @unchecked Sendable {  // Sendable: immutable after init.
    /// The model's name, recorded in stores that use it.
    public static let modelName = "all-MiniLM-L6-v2"
    /// `all-MiniLM-L6-v2`.
    public var identifier: String { Self.modelName }
    /// 384.
    public let dimension = 384
    /// Longest input in tokens, `[CLS]` and `[SEP]` included.
    public static let maxTokens = 256

    static let hidden = 384
    static let heads = 12
    static let headWidth = 32
    static let intermediate = 1536
    static let layers = 6
    static let vocabularySize = 30_522
    static let layerNormEpsilon: Float = 1e-12
    /// Weights of one layer's linear products: Q, K, V and the attention output (4 × 384²), and the
    /// feed-forward pair (2 × 384 × 1536).
    static let linearWeightsPerLayer = 4 * hidden * hidden + 2 * hidden * intermediate

    let tokenizer: WordPieceTokenizer
    private let weights: SafeTensorsFile
    private let wordEmbeddings: UnsafeBufferPointer<Float>
    private let positionEmbeddings: UnsafeBufferPointer<Float>
    private let tokenTypeEmbeddings: UnsafeBufferPointer<Float>
    private let embeddingNorm: Norm
    private let encoderLayers: [Layer]
    /// The packed weights of every linear layer.
    private let arena: WeightArena

    /// How the weights of the linear layers are held in memory.
    public enum WeightPrecision: String, Sendable, CaseIterable {
        /// Rounded to IEEE half precision and widened as they are read (the arithmetic stays float32):
        /// 21 MB instead of 42, which fits a server's L3 cache, so one sentence at a time runs about
        /// 1.3-1.5x faster; the vectors keep a cosine of at least 0.9999995 to the float32 forward pass.
        case float16
        /// The published float32 weights as they are.
        case float32
        /// Rounded to bfloat16, and the inputs of each product too, multiplied by the CPU's bfloat16 dot
        /// products (AVX512_BF16) into float32 sums: about 1.4x the multiply-adds per second of the
        /// float16 kernel, and the vectors keep a cosine of at least 0.9999 to the float32 forward pass
        /// (0.99997 on the golden sentences). The default where the CPU has those instructions; elsewhere
        /// it runs, slowly, one product at a time.
        case bfloat16

        /// What an embedder uses unless told: ``bfloat16`` where the CPU has bfloat16 dot products, else
        /// ``float16``.
        public static var preferred: WeightPrecision { BLAS.bfloat16Supported ? .bfloat16 : .float16 }
    }

    /// A linear layer `y = x·Wᵀ + b` with W packed for the encoder's matrix kernel.
    struct Linear {
        enum Packed {
            case float32(UnsafePointer<Float>)
            case float16(UnsafePointer<UInt16>)
            case bfloat16(UnsafePointer<UInt16>)
        }

        /// In the embedder's ``WeightArena``, which outlives every use.
        let packed: Packed
        let bias: [Float]
        let inputs: Int

        /// Stacks the outputs of one or more PyTorch-layout layers that read the same input (Q, K and V
        /// become one 1152-wide product) and packs them into `arena`.
        init(
            _ parts: [(w: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>)], inputs: Int,
            precision: WeightPrecision, arena: WeightArena
        ) {
            let outputs = parts.reduce(0) { $0 + $1.b.count }
            let stacked = parts.flatMap(\.w)
            packed = stacked.withUnsafeBufferPointer { w in
                switch precision {
                case .float32:
                    let p = arena.allocate(Float.self, count: w.count)
                    BLAS.packPanels(w, outputs: outputs, inputs: inputs, into: p)
                    return .float32(UnsafePointer(p))
                case .float16:
                    let p = arena.allocate(UInt16.self, count: w.count)
                    BLAS.packHalfPanels(w, outputs: outputs, inputs: inputs, into: p)
                    return .float16(UnsafePointer(p))
                case .bfloat16:
                    let p = arena.allocate(UInt16.self, count: w.count)
                    BLAS.packBFloat16Panels(w, outputs: outputs, inputs: inputs, into: p)
                    return .bfloat16(UnsafePointer(p))
                }
            }
            bias = parts.flatMap(\.b)
            self.inputs = inputs
        }

        /// `out = epilogue(x·Wᵀ + b)` for `rows` rows, the output panels shared among `threads` threads.
        func apply(
            _ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
            _ epilogue: BLAS.Epilogue,
            threads: Int
        ) {
            bias.withUnsafeBufferPointer { b in
                guard let ba = b.baseAddress else { return }
                let outputs = b.count
                let panel = BLAS.panelWidth
                let inputs = inputs
                func run(_ product: (_ offset: Int, _ panels: Range<Int>) -> Void) {
                    // One slice per thread: each slice copies the rows into the kernel's layout once.
                    parallelSlices(outputs / panel, threads: threads, slicesPerThread: 1) { _, panels in
                        if !panels.isEmpty { product(panels.lowerBound * inputs * panel, panels) }
                    }
                }
                switch packed {
                case .float32(let wa):
                    run { offset, panels in
                        BLAS.linear(
                            x, rows: rows, inputs: inputs, packed: wa + offset,
                            bias: ba + panels.lowerBound * panel,
                            outputs: panels.count * panel, into: out + panels.lowerBound * panel,
                            outStride: outputs,
                            epilogue: epilogue)
                    }
                case .float16(let wa):
                    run { offset, panels in
                        BLAS.linear(
                            x, rows: rows, inputs: inputs, packedHalves: wa + offset,
                            bias: ba + panels.lowerBound * panel, outputs: panels.count * panel,
                            into: out + panels.lowerBound * panel, outStride: outputs, epilogue: epilogue)
                    }
                case .bfloat16(let wa):
                    run { offset, panels in
                        BLAS.linear(
                            x, rows: rows, inputs: inputs, packedBFloat16: wa + offset,
                            bias: ba + panels.lowerBound * panel, outputs: panels.count * panel,
                            into: out + panels.lowerBound * panel, outStride: outputs, epilogue: epilogue)
                    }
                }
            }
        }
    }

    /// LayerNorm parameters, read from the mapped weights.
    struct Norm {
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>

        func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, threads: Int) {
            let h = MiniLMEmbedder.hidden
            parallelSlices(rows, threads: threads) { _, slice in
                BLAS.layerNorm(
                    x + slice.lowerBound * h, rows: slice.count, width: h, weight: weight, bias: bias,
                    epsilon: MiniLMEmbedder.layerNormEpsilon)
            }
        }
    }

    struct Layer {
        var queryKeyValue, attentionOutput, intermediate, output: Linear
        var attentionNorm, outputNorm: Norm
    }

    /// Threads that one `embed` call uses.
    public let threads: Int
    /// One per active processor, at most 8: past that a 6-layer model's products are too small to share.
    public static var defaultThreads: Int { min(8, ProcessInfo.processInfo.activeProcessorCount) }
    /// How the linear layers' weights are held.
    public let weightPrecision: WeightPrecision

    /// Loads the model from a directory holding `model.safetensors` and `vocab.txt`, and packs the
    /// weights of the linear layers (21 MB in float16 or bfloat16, 42 MB in float32; tens of milliseconds).
    /// - Parameters:
    ///   - directory: the folder holding the model's files (``ModelFiles/miniLMDirectory(environment:)``).
    ///   - threads: threads per `embed` call, by default ``defaultThreads``. Every output is
    ///     computed by the same arithmetic whatever the count, so the vectors do not change.
    ///   - precision: by default ``WeightPrecision/preferred`` (bfloat16 where the CPU has its dot
    ///     products, else float16: half the memory of float32, and faster), or any ``WeightPrecision``.
    /// - Throws: ``EngramError/Code/notFound`` when the files are missing (install them with
    ///   `engram model install`), ``EngramError/Code/storageCorrupted`` when a tensor is missing or misshapen.
    public init(directory: String, threads: Int? = nil, weights precision: WeightPrecision = .preferred)
        throws
    {
        let dir = URL(fileURLWithPath: directory)
        let weightsPath = dir.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw EngramError(
                .notFound,
                "the \(Self.modelName) model is not installed in \(directory); run `engram model install`",
                field: "model")
        }
        self.threads = max(1, threads ?? Self.defaultThreads)
        weightPrecision = precision
        tokenizer = try WordPieceTokenizer(vocabularyFile: dir.appendingPathComponent("vocab.txt").path)
        weights = try SafeTensorsFile(path: weightsPath)
        let h = Self.hidden
        wordEmbeddings = try weights.floats(
            "embeddings.word_embeddings.weight", shape: [Self.vocabularySize, h])
        positionEmbeddings = try weights.floats("embeddings.position_embeddings.weight", shape: [512, h])
        tokenTypeEmbeddings = try weights.floats("embeddings.token_type_embeddings.weight", shape: [2, h])
        let w = weights
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafeBufferPointer<Float> {
            try w.floats(name, shape: shape)
        }
        func part(_ name: String, _ out: Int, _ input: Int) throws -> (
            w: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>
        ) {
            (try tensor(name + ".weight", [out, input]), try tensor(name + ".bias", [out]))
        }
        func norm(_ name: String) throws -> Norm {
            guard let weight = try tensor(name + ".weight", [h]).baseAddress,
                let bias = try tensor(name + ".bias", [h]).baseAddress
            else { throw EngramError(.storageCorrupted, "tensor \(name) is empty", field: "model") }
            return Norm(weight: weight, bias: bias)
        }
        embeddingNorm = try norm("embeddings.LayerNorm")
        let arena = try WeightArena(
            bytes: Self.layers * Self.linearWeightsPerLayer * (precision == .float32 ? 4 : 2),
            parts: Self.layers * 4)
        self.arena = arena
        encoderLayers = try (0..<Self.layers).map { i in
            let p = "encoder.layer.\(i)."
            let qkv = try ["query", "key", "value"].map { try part(p + "attention.self." + $0, h, h) }
            return Layer(
                queryKeyValue: Linear(qkv, inputs: h, precision: precision, arena: arena),
                attentionOutput: Linear(
                    [try part(p + "attention.output.dense", h, h)], inputs: h, precision: precision,
                    arena: arena),
                intermediate: Linear(
                    [try part(p + "intermediate.dense", Self.intermediate, h)], inputs: h,
                    precision: precision, arena: arena),
                output: Linear(
                    [try part(p + "output.dense", h, Self.intermediate)], inputs: Self.intermediate,
                    precision: precision, arena: arena),
                attentionNorm: try norm(p + "attention.output.LayerNorm"),
                outputNorm: try norm(p + "output.LayerNorm"))
        }
        // The linear layers now live in their packed copies; the raw pages read to pack them (42 MB) go
        // back to the page cache, and the embedding rows fault back in as texts use them.
        weights.dropResidentPages()
    }

    /// The register tile the linear layers run on this CPU: `16-lane` (AVX-512) or `8-lane`.
    package static var kernelTile: String { BLAS.Tile.chosen.rawValue }

    /// Token ids of a text as the model sees it.
    public func tokenIDs(_ text: String) -> [Int32] {
        tokenizer.encode(text, maxTokens: Self.maxTokens)
    }

    /// Rows from which LayerNorm is shared among threads too.
    static let rowsWorthSharing = 64

    /// Texts per packed batch: enough rows to read each weight matrix once for many texts.
    static let batchSize = 32

    /// Embeds each text.
    /// - Complexity: O(tokens × 10.6M) arithmetic for the linear layers plus O(Σ tokens²) for attention.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        var result: [[Float]] = []
        result.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: Self.batchSize) {
            let batch = texts[start..<min(start + Self.batchSize, texts.count)].map(tokenIDs)
            result += encode(batch)
        }
        return result
    }

    /// The normalised sentence embeddings of a packed batch of token sequences.
    func encode(_ sequences: [[Int32]]) -> [[Float]] {
        let h = Self.hidden
        let offsets = sequences.reduce(into: [0]) { $0.append($0[$0.count - 1] + $1.count) }
        let n = offsets[offsets.count - 1]
        guard n > 0 else { return sequences.map { _ in [Float](repeating: 0, count: h) } }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: n * 3 * h)
        let context = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let wide = UnsafeMutablePointer<Float>.allocate(capacity: n * Self.intermediate)
        defer { for buffer in [x, qkv, context, wide] { buffer.deallocate() } }

        for (s, ids) in sequences.enumerated() {
            for (t, id) in ids.enumerated() {
                let row = x + (offsets[s] + t) * h
                let word = Int(id) * h
                let position = t * h
                for j in 0..<h {
                    row[j] =
                        wordEmbeddings[word + j] + positionEmbeddings[position + j] + tokenTypeEmbeddings[j]
                }
            }
        }
        // LayerNorm costs microseconds for a few rows, less than handing them to helpers. Attention is
        // shared even for one sentence, by heads: the helpers are waiting for the next product anyway
        // (+5 % single sentences on 2 threads, medians of 7 alternating runs).
        let normThreads = n >= Self.rowsWorthSharing ? threads : 1
        embeddingNorm.apply(x, rows: n, threads: normThreads)
        let scale = 1 / Float(Self.headWidth).squareRoot()
        // Attention work items: whole sequences when there are enough to share, else heads of one.
        let headParts = sequences.count >= threads ? 1 : threads
        let items = sequences.count * headParts
        for layer in encoderLayers {
            layer.queryKeyValue.apply(x, rows: n, into: qkv, .none, threads: threads)
            parallelSlices(items, threads: threads) { _, slice in
                for item in slice {
                    let (s, headPart) = item.quotientAndRemainder(dividingBy: headParts)
                    let first = offsets[s]
                    let column = Self.heads * headPart / headParts * Self.headWidth
                    let heads = Self.heads * (headPart + 1) / headParts - Self.heads * headPart / headParts
                    let rows = qkv + first * 3 * h + column
                    BLAS.attention(
                        q: rows, k: rows + h, v: rows + 2 * h, length: offsets[s + 1] - first, stride: 3 * h,
                        heads: heads, width: Self.headWidth, scale: scale,
                        context: context + first * h + column, contextStride: h)
                }
            }
            layer.attentionOutput.apply(context, rows: n, into: x, .add, threads: threads)
            layer.attentionNorm.apply(x, rows: n, threads: normThreads)
            layer.intermediate.apply(x, rows: n, into: wide, .gelu, threads: threads)
            layer.output.apply(wide, rows: n, into: x, .add, threads: threads)
            layer.outputNorm.apply(x, rows: n, threads: normThreads)
        }
        return (0..<sequences.count).map { s in
            var pooled = [Double](repeating: 0, count: h)
            for t in offsets[s]..<offsets[s + 1] {
                for j in 0..<h { pooled[j] += Double(x[t * h + j]) }
            }
            let norm = pooled.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return pooled.map { Float(norm > 0 ? $0 / norm : 0) }
        }
    }
}
