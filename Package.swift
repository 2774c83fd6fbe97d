// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Qantara",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "qantara", targets: ["qantara"]),
    ],
    dependencies: [
        // No traits: the default ones (swift-configuration support, full Foundation) are unused here, and building one
        // product of a package with default traits flip-flops them against a build of every target (SwiftPM 6.3):
        // each `make run` after `make test` recompiled Hummingbird.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        // TLS on the gateway ports (already built for AsyncHTTPClient and HummingbirdTLS: no extra cost).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        // For its BoringSSL only: AES-256-GCM with VAES/AVX-512 (2.2x Debian 12's OpenSSL 3.0 here).
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        // X.509 for the jurisdictions' certificate authorities (already built for swift-nio-ssl: no extra cost).
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        // Metrics (already built for Hummingbird) and their Prometheus text exposition on /metrics.
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
    ],
    targets: [
        // System-library shims: internal, small, wrapped by Swift types.
        .systemLibrary(name: "CRocksDB", pkgConfig: "rocksdb", providers: [.apt(["librocksdb-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CPKCS11", pkgConfig: "p11-kit-1", providers: [.apt(["libp11-kit-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CGlibc"),

        .target(name: "ObjectModel"),
        .target(name: "Hashing", dependencies: ["COpenSSL", "CSodium", "CBoringShim", "CMD5"]),
        .target(name: "CMD5", linkerSettings: [.linkedLibrary("crypto")]),
        // AES-256-GCM through BoringSSL, behind two C functions: BoringSSL's headers clash with OpenSSL's in any
        // module that would see both, so no Swift module sees them.
        .target(name: "CBoringShim", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Envelope", dependencies: ["ObjectModel", "Hashing", "CSodium", "CBoringShim"]),
        .target(name: "KeyStore", dependencies: ["Envelope", "Sovereignty", "ObjectModel", "Hashing", "SigV4", "CSodium",
                                                 "CPKCS11",
                                                 .product(name: "X509", package: "swift-certificates"),
                                                 .product(name: "SwiftASN1", package: "swift-asn1"),
                                                 .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "KeyStoreHTTP", dependencies: [
            "KeyStore", "Envelope", "ObjectModel", "Hashing", "Sovereignty",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Sovereignty", dependencies: ["Envelope", "ObjectModel", "Hashing", "CSodium"]),
        .target(name: "StorageEngine", dependencies: ["ObjectModel", "CRocksDB"]),
        .target(name: "StorageNode", dependencies: [
            "CGlibc", "ObjectModel", "StorageEngine", "Hashing", "Placement",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "NodeHTTP", dependencies: [
            "ObjectModel", "StorageNode", "Hashing",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Placement", dependencies: ["ObjectModel", "Hashing"]),
        .target(name: "SigV4", dependencies: ["ObjectModel", "Hashing"]),
        .target(name: "ObjectService", dependencies: [
            "Envelope", "KeyStore", "Sovereignty", "SigV4",
            "ObjectModel", "Hashing", "StorageEngine", "StorageNode", "Placement",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The control plane in etcd, through its v3 JSON gateway and the HTTP client already in the build.
        .target(name: "EtcdControl", dependencies: [
            "ObjectService", "StorageEngine", "Hashing",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The S3 front: imports neither the storage nodes nor the admin API (the executable mounts that beside it).
        .target(name: "S3API", dependencies: [
            "Sovereignty",
            "ObjectModel", "Hashing", "SigV4", "ObjectService",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        .target(name: "Admin", dependencies: ["KeyStore", "Sovereignty", "ObjectModel", "SigV4", "ObjectService", "StorageNode", "Placement",
                                              "Hashing",
                                              .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                              .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .executableTarget(name: "qantara", dependencies: [
            "Sovereignty",
            "KeyStoreHTTP",
            "Envelope", "KeyStore",
            "ObjectModel", "StorageEngine", "StorageNode", "Placement", "ObjectService", "S3API", "Admin", "SigV4",
            "NodeHTTP", "Hashing", "CGlibc", "EtcdControl",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        .testTarget(name: "ObjectModelTests", dependencies: ["ObjectModel"]),
        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "KeyStoreTests", dependencies: [
            "KeyStore", "KeyStoreHTTP", "Envelope", "ObjectModel", "Sovereignty", "Hashing",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SovereigntyTests", dependencies: ["Sovereignty", "ObjectModel", "Hashing"]),
        .testTarget(name: "EnvelopeTests", dependencies: ["Envelope", "ObjectModel", "Hashing", "COpenSSL"]),
        .testTarget(name: "StorageEngineTests", dependencies: ["StorageEngine", "ObjectModel"]),
        .testTarget(name: "StorageNodeTests", dependencies: [
            "StorageNode", "StorageEngine", "ObjectModel", "NodeHTTP", "Hashing",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "PlacementTests", dependencies: ["Placement", "ObjectModel"]),
        .testTarget(name: "SigV4Tests", dependencies: ["SigV4", "ObjectModel"]),
        .testTarget(name: "ObjectServiceTests", dependencies: ["ObjectService", "StorageNode", "StorageEngine", "Placement", "ObjectModel", "Hashing"]),
        .testTarget(name: "ControlStoreTests", dependencies: [
            "ObjectService", "EtcdControl", "StorageEngine", "KeyStore", "Envelope", "ObjectModel", "Placement",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "S3APITests", dependencies: ["S3API", "ObjectService", "SigV4", "ObjectModel"]),
        .testTarget(name: "QantaraTests", dependencies: [
            "qantara", "Sovereignty", "ObjectModel", "Hashing", "Admin", "StorageEngine",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
