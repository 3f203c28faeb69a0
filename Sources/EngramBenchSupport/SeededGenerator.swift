import Foundation

/// SplitMix64: the same sequence on every platform for a given seed, for tests and benchmarks.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator starting at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box-Muller).
    public mutating func gaussian() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// A random vector of Gaussian components (not normalised: the store normalises).
    public mutating func vector(dimension: Int) -> [Float] {
        (0..<dimension).map { _ in Float(gaussian()) }
    }

    /// `count` vectors drawn around `clusters` random centres, so that near neighbours exist.
    public mutating func clusteredVectors(count: Int, dimension: Int, clusters: Int = 16) -> [[Float]] {
        let centres = (0..<max(1, clusters)).map { _ in vector(dimension: dimension) }
        return (0..<count).map { _ in
            let c = centres[Int.random(in: 0..<centres.count, using: &self)]
            return c.map { $0 + Float(gaussian() * 0.6) }
        }
    }
}
