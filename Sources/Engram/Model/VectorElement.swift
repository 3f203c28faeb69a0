/// How a store keeps its vectors on disk and in memory.
public enum VectorElement: String, Sendable, Codable, CaseIterable {
    /// IEEE single precision: exact scores (the default).
    case float32 = "f32"
    /// IEEE half precision: half the memory and disk; scores within about 1e-3 of exact on normalised
    /// vectors (half has 11 significant bits), scanned by a fused convert-and-dot kernel.
    case float16 = "f16"

    /// Bytes per component.
    public var size: Int { self == .float32 ? 4 : 2 }

    /// The code in the vector file header.
    var headerCode: UInt32 { self == .float32 ? 1 : 2 }

    init?(headerCode: UInt32) {
        switch headerCode {
        case 1: self = .float32
        case 2: self = .float16
        default: return nil
        }
    }
}
