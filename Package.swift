// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// `make fuzz` sets ENGRAM_FUZZ: the fuzz entry points are compiled into release builds only then (and
// into debug builds, whose tests replay the corpus), never into a shipped binary.
let fuzzing = Context.environment["ENGRAM_FUZZ"] != nil
let fuzzSettings: [SwiftSetting] = fuzzing ? [.define("ENGRAM_FUZZ")] : []

let package = Package(
    name: "Engram",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Engram", targets: ["Engram"]),
        // Seeded data and exact ground truth for benchmarks (`engram bench`, the Benchmarks package) and tests.
        .library(name: "EngramBenchSupport", targets: ["EngramBenchSupport"]),
        .executable(name: "engram", targets: ["engram"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
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
        // FTS5's BM25 with document frequencies the caller caches (SQLite's C extension API).
        .target(name: "CFullText", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "Engram",
            dependencies: [
                "CBLAS",
                "CFullText",
                "CKernels",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings + fuzzSettings
        ),
        // Benchmark support kept out of the library's API: seeded vectors and exact ground truth.
        .target(
            name: "EngramBenchSupport",
            dependencies: ["Engram"],
            swiftSettings: strictSettings
        ),
        // Embedders that need the network, kept out of the core library.
        .target(
            name: "EngramProviders",
            dependencies: ["Engram"],
            swiftSettings: strictSettings
        ),
        // The one service every front end calls: typed operations, their JSON wire shapes, the work
        // pool and batch coalescing, filter and time parsing, embedder resolution. No HTTP, no parser.
        .target(
            name: "EngramService",
            dependencies: [
                "Engram", "EngramProviders",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // `engram serve --cluster`: PostgreSQL as the system of record, this node's store a replica of its
        // shards (the follower), writes into PostgreSQL with tokens, recall gathered from the shards.
        .target(
            name: "EngramCluster",
            dependencies: [
                "Engram",
                "EngramService",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // `engram serve`: the HTTP API on Hummingbird (keys -> scopes, metrics, backpressure).
        .target(
            name: "EngramServer",
            dependencies: [
                "Engram",
                "EngramService",
                "EngramMCP",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("openapi.json")],
            swiftSettings: strictSettings
        ),
        // `engram mcp` and `/mcp`: the memory tools over the Model Context Protocol (swift-sdk); no HTTP
        // framework (the server hands `/mcp` requests to it as plain values).
        .target(
            name: "EngramMCP",
            dependencies: [
                "Engram",
                "EngramService",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MCP", package: "swift-sdk"),
            ],
            exclude: ["mcp-tools.json"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "EngramCLI",
            dependencies: [
                "Engram",
                "EngramBenchSupport",
                "EngramService",
                "EngramServer",
                "EngramMCP",
                "EngramCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "engram",
            dependencies: ["EngramCLI"],
            swiftSettings: strictSettings
        ),
        // A SQLite VFS that reports SQLite's file calls to the tests' fault and power-cut interposers.
        .target(name: "CSQLiteShim", path: "Tests/SQLiteShim", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "EngramTestSupport",
            dependencies: ["Engram", "EngramBenchSupport", "CSQLiteShim"],
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
        // What each fuzz target does with one input; the harness and the corpus replay test share it.
        .target(
            name: "EngramFuzzTargets",
            dependencies: ["Engram", "EngramService"],
            path: "Tests/Fuzz/Targets",
            swiftSettings: strictSettings + fuzzSettings
        ),
        // `make schema`: the files generated from the one wire definition, and their writer.
        .target(
            name: "EngramSchemaFiles",
            dependencies: ["Engram", "EngramService", "EngramMCP"],
            path: "Tests/SchemaFiles",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "engram-schema",
            dependencies: ["EngramSchemaFiles"],
            path: "Tests/SchemaWriter",
            swiftSettings: strictSettings
        ),
        // The kill storm (`make storm`): SIGKILLs a writer doing mixed work, checks every acknowledged write.
        .executableTarget(
            name: "engram-storm",
            dependencies: ["Engram", "EngramTestSupport"],
            path: "Tests/Storm",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramTests",
            dependencies: ["Engram", "EngramTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramProvidersTests",
            dependencies: ["EngramProviders", "Engram", "EngramTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramServerTests",
            dependencies: [
                "EngramServer", "EngramService", "EngramMCP", "Engram", "EngramTestSupport",
                "EngramFuzzTargets",
                "EngramSchemaFiles",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramCLITests",
            dependencies: ["EngramCLI", "Engram", "EngramTestSupport"],
            exclude: ["Golden"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// `make fuzz` builds the libFuzzer harness with ENGRAM_FUZZ=1 and `--sanitize=fuzzer --sanitize=address`;
// libFuzzer's runtime provides its `main`, so an ordinary build leaves it out.
if fuzzing {
    package.targets.append(
        .executableTarget(
            name: "engram-fuzz",
            dependencies: ["EngramFuzzTargets"],
            path: "Tests/Fuzz/Harness",
            swiftSettings: strictSettings + [.unsafeFlags(["-parse-as-library"])]
        ))
}
