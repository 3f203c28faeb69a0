// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Engram",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Engram", targets: ["Engram"]),
        .executable(name: "engram", targets: ["engram"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // OpenBLAS's CBLAS interface; only Vectors/BLAS.swift imports it.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Portable SIMD scan kernels, dispatched per CPU at load time (target_clones).
        .target(name: "CKernels"),
        .target(
            name: "Engram",
            dependencies: [
                "CBLAS",
                "CKernels",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // Embedders that need the network, kept out of the core library.
        .target(
            name: "EngramProviders",
            dependencies: ["Engram"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "EngramCLI",
            dependencies: [
                "Engram",
                "EngramProviders",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "engram",
            dependencies: ["EngramCLI"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "EngramTestSupport",
            dependencies: ["Engram"],
            path: "Tests/EngramTestSupport",
            swiftSettings: strictSettings
        ),
        // A child process for the crash tests: writes batches and reports each commit, until killed.
        .executableTarget(
            name: "engram-crash-writer",
            dependencies: ["Engram", "EngramTestSupport"],
            path: "Tests/CrashWriter",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramTests",
            dependencies: ["Engram", "EngramTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramProvidersTests",
            dependencies: ["EngramProviders", "Engram", "EngramTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramCLITests",
            dependencies: ["EngramCLI", "Engram", "EngramTestSupport"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
