// swift-tools-version: 6.1
// Micro-benchmarks for Engram, kept in their own package so `swift test` at the root never builds them.
//   cd Benchmarks && swift package benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the repository was cloned.
let engramPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let package = Package(
    name: "EngramBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RecallBenchmarks",
            dependencies: [
                .product(name: "Engram", package: engramPackage),
                .product(name: "EngramBenchSupport", package: engramPackage),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RecallBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
