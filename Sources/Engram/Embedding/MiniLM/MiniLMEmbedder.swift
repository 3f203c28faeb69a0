import Foundation

/// The all-MiniLM-L6-v2 sentence encoder (384 dimensions), run natively on OpenBLAS from the published
/// weights: no Python, no network, the same vectors as sentence-transformers (cosine ≥ 0.9999).
///
/// Pipeline: BERT uncased WordPiece (at most 256 tokens with `[CLS]`/`[SEP]`), word + position +
/// token-type embeddings and LayerNorm, 6 layers of 12-head self-attention and a 1536-wide
/// feed-forward with exact (erf) GELU, mean pooling over the tokens, L2 normalisation.
///
/// A batch is packed rather than padded: the tokens of all its texts form one matrix, so every linear
/// layer is one sgemm that reads the weights once per batch, while attention runs per text on its own
/// rows. No padding means no attention mask and no wasted rows.
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

    let tokenizer: WordPieceTokenizer
    private let weights: SafeTensorsFile
    private let wordEmbeddings: UnsafeBufferPointer<Float>
    private let positionEmbeddings: UnsafeBufferPointer<Float>
    private let tokenTypeEmbeddings: UnsafeBufferPointer<Float>
    private let embeddingNorm: (weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>)
    private let encoderLayers: [Layer]

    struct Layer {
        var query, key, value, attentionOutput, intermediate, output: (w: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>)
        var attentionNorm, outputNorm: (weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>)
    }

    /// Loads the model from a directory holding `model.safetensors` and `vocab.txt`.
    /// - Throws: ``EngramError/Code/notFound`` when the files are missing (install them with
    ///   `engram model install`), ``EngramError/Code/storageCorrupted`` when a tensor is missing or misshapen.
    public init(directory: String) throws {
        let dir = URL(fileURLWithPath: directory)
        let weightsPath = dir.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw EngramError(
                .notFound, "the \(Self.modelName) model is not installed in \(directory); run `engram model install`",
                field: "model")
        }
        BLAS.setThreadCount(1)  // small matrices: a second OpenBLAS thread costs more than it gives
        tokenizer = try WordPieceTokenizer(vocabularyFile: dir.appendingPathComponent("vocab.txt").path)
        weights = try SafeTensorsFile(path: weightsPath)
        let h = Self.hidden
        wordEmbeddings = try weights.floats("embeddings.word_embeddings.weight", shape: [Self.vocabularySize, h])
        positionEmbeddings = try weights.floats("embeddings.position_embeddings.weight", shape: [512, h])
        tokenTypeEmbeddings = try weights.floats("embeddings.token_type_embeddings.weight", shape: [2, h])
        embeddingNorm = (
            try weights.floats("embeddings.LayerNorm.weight", shape: [h]),
            try weights.floats("embeddings.LayerNorm.bias", shape: [h])
        )
        let w = weights
        func linear(_ name: String, _ out: Int, _ input: Int) throws -> (w: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>) {
            (try w.floats(name + ".weight", shape: [out, input]), try w.floats(name + ".bias", shape: [out]))
        }
        func norm(_ name: String) throws -> (weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>) {
            (try w.floats(name + ".weight", shape: [h]), try w.floats(name + ".bias", shape: [h]))
        }
        encoderLayers = try (0..<Self.layers).map { i in
            let p = "encoder.layer.\(i)."
            return Layer(
                query: try linear(p + "attention.self.query", h, h), key: try linear(p + "attention.self.key", h, h),
                value: try linear(p + "attention.self.value", h, h),
                attentionOutput: try linear(p + "attention.output.dense", h, h),
                intermediate: try linear(p + "intermediate.dense", Self.intermediate, h),
                output: try linear(p + "output.dense", h, Self.intermediate),
                attentionNorm: try norm(p + "attention.output.LayerNorm"), outputNorm: try norm(p + "output.LayerNorm"))
        }
    }

    /// Token ids of a text as the model sees it.
    public func tokenIDs(_ text: String) -> [Int32] {
        tokenizer.encode(text, maxTokens: Self.maxTokens)
    }

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
        var x = [Float](repeating: 0, count: n * h)
        for (s, ids) in sequences.enumerated() {
            for (t, id) in ids.enumerated() {
                let row = (offsets[s] + t) * h
                let word = Int(id) * h
                let position = t * h
                for j in 0..<h {
                    x[row + j] = wordEmbeddings[word + j] + positionEmbeddings[position + j] + tokenTypeEmbeddings[j]
                }
            }
        }
        Self.layerNorm(&x, rows: n, embeddingNorm)
        var q = [Float](repeating: 0, count: n * h)
        var k = q
        var v = q
        var context = q
        var projected = q
        let longest = sequences.map(\.count).max() ?? 0
        var scores = [Float](repeating: 0, count: longest * longest)
        var wide = [Float](repeating: 0, count: n * Self.intermediate)
        let scale = 1 / Float(Self.headWidth).squareRoot()
        for layer in encoderLayers {
            Self.linear(x, rows: n, inputs: h, layer.query, into: &q)
            Self.linear(x, rows: n, inputs: h, layer.key, into: &k)
            Self.linear(x, rows: n, inputs: h, layer.value, into: &v)
            for (s, first) in offsets.dropLast().enumerated() {
                let length = offsets[s + 1] - first
                for head in 0..<Self.heads {
                    let offset = first * h + head * Self.headWidth
                    q.withUnsafeBufferPointer { qp in
                        k.withUnsafeBufferPointer { kp in
                            scores.withUnsafeMutableBufferPointer { sp in
                                guard let qa = qp.baseAddress, let ka = kp.baseAddress, let sa = sp.baseAddress else { return }
                                BLAS.gemm(
                                    m: length, n: length, k: Self.headWidth, a: qa + offset, lda: h, b: ka + offset, ldb: h,
                                    transposeB: true, c: sa, ldc: length, alpha: scale)
                            }
                        }
                    }
                    Self.softmaxRows(&scores, rows: length)
                    scores.withUnsafeBufferPointer { sp in
                        v.withUnsafeBufferPointer { vp in
                            context.withUnsafeMutableBufferPointer { cp in
                                guard let sa = sp.baseAddress, let va = vp.baseAddress, let ca = cp.baseAddress else { return }
                                BLAS.gemm(
                                    m: length, n: Self.headWidth, k: length, a: sa, lda: length, b: va + offset, ldb: h,
                                    transposeB: false, c: ca + offset, ldc: h)
                            }
                        }
                    }
                }
            }
            Self.linear(context, rows: n, inputs: h, layer.attentionOutput, into: &projected)
            for i in 0..<(n * h) { x[i] += projected[i] }
            Self.layerNorm(&x, rows: n, layer.attentionNorm)
            Self.linear(x, rows: n, inputs: h, layer.intermediate, into: &wide)
            BLAS.gelu(&wide)
            Self.linear(wide, rows: n, inputs: Self.intermediate, layer.output, into: &projected)
            for i in 0..<(n * h) { x[i] += projected[i] }
            Self.layerNorm(&x, rows: n, layer.outputNorm)
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

    /// `out = input · Wᵀ + b` for `rows` rows (W stored `outputs × inputs`, as PyTorch does).
    private static func linear(
        _ input: [Float], rows: Int, inputs: Int, _ layer: (w: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>),
        into out: inout [Float]
    ) {
        let outputs = layer.b.count
        for r in 0..<rows {
            for j in 0..<outputs { out[r * outputs + j] = layer.b[j] }
        }
        input.withUnsafeBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                guard let ia = ip.baseAddress, let oa = op.baseAddress, let wa = layer.w.baseAddress else { return }
                BLAS.gemm(
                    m: rows, n: outputs, k: inputs, a: ia, lda: inputs, b: wa, ldb: inputs, transposeB: true, c: oa,
                    ldc: outputs, beta: 1)
            }
        }
    }

    /// LayerNorm over each row of 384 (eps 1e-12), statistics in Double.
    private static func layerNorm(
        _ x: inout [Float], rows: Int, _ p: (weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>)
    ) {
        let h = hidden
        for r in 0..<rows {
            var mean = 0.0
            for j in 0..<h { mean += Double(x[r * h + j]) }
            mean /= Double(h)
            var variance = 0.0
            for j in 0..<h {
                let d = Double(x[r * h + j]) - mean
                variance += d * d
            }
            variance /= Double(h)
            let inv = 1 / (variance + 1e-12).squareRoot()
            for j in 0..<h {
                x[r * h + j] = Float((Double(x[r * h + j]) - mean) * inv) * p.weight[j] + p.bias[j]
            }
        }
    }

    private static func softmaxRows(_ s: inout [Float], rows: Int) {
        for r in 0..<rows {
            var maximum = -Float.infinity
            for j in 0..<rows { maximum = max(maximum, s[r * rows + j]) }
            var sum: Float = 0
            for j in 0..<rows {
                let e = exp(s[r * rows + j] - maximum)
                s[r * rows + j] = e
                sum += e
            }
            for j in 0..<rows { s[r * rows + j] /= sum }
        }
    }
}
