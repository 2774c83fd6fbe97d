import Admin
import ArgumentParser
import Crypto
import Foundation
import Hashing
import ObjectModel
import SigV4
import Sovereignty
import SwiftASN1
import X509

/// `qantara attest object s3://bucket/key --nonce N -o FILE` and `qantara attest bucket BUCKET --nonce N -o FILE`:
/// signed location attestations.
struct AttestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest", abstract: "Ask for a signed location attestation of an object or a bucket.",
        subcommands: [Object.self, Bucket.self])

    /// What both attestation requests take: the nonce, the gateway and credentials, the output, the held checkpoint.
    struct Request: ParsableArguments {
        @Option(help: "A fresh value of yours (1 to 128 characters); the attestation must carry it.") var nonce: String
        @Option(help: "The gateway to ask (env QANTARA_ENDPOINT).")
        var endpoint: String = ProcessInfo.processInfo.environment["QANTARA_ENDPOINT"] ?? "http://127.0.0.1:9000"
        @Option(help: "Data directory holding root-credentials.")
        var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data"
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?
        @Option(help: "A checkpoint of the log you hold: the attestation then carries the consistency proof from it.")
        var checkpoint: String?

        func validate() throws {
            guard !nonce.isEmpty, nonce.utf8.count <= 128 else { throw ValidationError("--nonce is 1 to 128 characters") }
        }

        /// The gateway, as the caller's S3 credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or the root's in
        /// `data`.
        func client() async throws -> AdminClient {
            let environment = ProcessInfo.processInfo.environment
            if let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"],
               let url = URL(string: endpoint) {
                return AdminClient(endpoint: url, accessKeyID: id, secret: secret,
                                   certificateAuthorities: environment["QANTARA_CA"])
            }
            return try await runAdmin { try AdminOptions.client(endpoint: endpoint, data: data) }
        }

        /// The request's query: the nonce, and the size of the held checkpoint for a consistency proof from it.
        func query() throws -> [(String, String)] {
            var query = [("nonce", nonce), ("x-qantara-attestation", "")]
            if let checkpoint {
                guard let data = FileManager.default.contents(atPath: checkpoint),
                      let held = SignedNote(String(decoding: data, as: UTF8.self)).flatMap({ Checkpoint(body: $0.text) })
                else { throw fail("\(checkpoint) is not a signed checkpoint") }
                query.append(("since", String(held.size)))
            }
            return query
        }

        func write(_ document: some Encodable) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeOutput(String(decoding: try encoder.encode(document), as: UTF8.self) + "\n", to: output)
        }
    }

    struct Bucket: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every node of the bucket's jurisdiction signs the Merkle root of the current object versions it "
                + "holds; the document carries the bucket's root over all of them (key, version, stored digest, nodes) "
                + "and proofs of the keys you sample.")
        @Argument(help: "The bucket.") var bucket: String
        @Option(help: "A key to prove in the bucket's tree and its nodes' (repeatable, at most 16).") var key: [String] = []
        @OptionGroup var request: Request

        func validate() throws {
            guard !bucket.isEmpty, !bucket.contains("/") else { throw ValidationError("the bucket is its name") }
            guard key.count <= Limits.bucketAttestationSamplesMax else {
                throw ValidationError("--key at most \(Limits.bucketAttestationSamplesMax) times")
            }
        }

        func run() async throws {
            let client = try await request.client()
            var query = try request.query()
            if !key.isEmpty { query.append(("keys", key.map { Base64URL.encode(Array($0.utf8)) }.joined(separator: ","))) }
            let attestation = try await runAdmin {
                try await client.request("GET", rawPath: "/" + URIEncoding.encode(bucket, keepSlash: false),
                                         query: query, as: BucketAttestation.self)
            }
            try request.write(attestation)
        }
    }

    struct Object: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every replica of the object's newest version signs, with its node's certified key, the SHA-256 "
                + "of the ciphertext it holds, read now; uses AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the root "
                + "credentials in --data.")
        @Argument(help: "s3://bucket/key") var object: String
        @Option(name: .customLong("version-id"), help: "Attest this version of the key (default: the newest).")
        var versionID: String?
        @OptionGroup var request: Request

        func validate() throws {
            guard object.hasPrefix("s3://"), let slash = object.dropFirst(5).firstIndex(of: "/"),
                  slash > object.index(object.startIndex, offsetBy: 5), object[object.index(after: slash)...].count > 0 else {
                throw ValidationError("the object is s3://bucket/key")
            }
        }

        func run() async throws {
            let path = object.dropFirst(5)
            let slash = path.firstIndex(of: "/")!
            let bucket = String(path[..<slash]), key = String(path[path.index(after: slash)...])
            let client = try await request.client()
            var query = try request.query()
            if let versionID { query.append(("versionId", versionID)) }
            let rawPath = "/" + URIEncoding.encode(bucket, keepSlash: false) + "/" + URIEncoding.encode(key, keepSlash: true)
            let attestation = try await runAdmin {
                try await client.request("GET", rawPath: rawPath, query: query, as: LocationAttestation.self)
            }
            try request.write(attestation)
        }
    }
}

/// `qantara verify FILE --trust ANCHOR`: checks a location attestation (of an object or a bucket) offline.
struct VerifyCommand: AsyncParsableCommand {
    private struct Format: Decodable { var format: String }

    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a location attestation offline against the jurisdiction's trust anchor: every node's "
            + "signature, certificate chain, validity and country, the nonce, freshness, the log's proofs, and that the "
            + "replicas agree (with --bucket: a bucket attestation, its root and the sampled keys).")
    @Argument(help: "Attestation file (`qantara attest object`).") var file: String
    @Option(help: "Trust anchor of the jurisdiction (`qantara trust export`, PEM).") var trust: String
    @Option(help: "The object you asked about, s3://bucket/key: an object attestation must be of it.")
    var object: String?
    @Option(help: "The bucket you asked about: a bucket attestation must be of it.") var bucket: String?
    @Option(help: "A key you sampled (repeatable): a bucket attestation must prove it.") var key: [String] = []
    @Option(help: "The version you asked about, if one.") var version: String?
    @Option(help: "The nonce you asked with: the attestation must carry it.") var nonce: String?
    @Option(help: "Fail if a replica's statement is older than this (like 1h, 7d).") var maxAge: String?
    @Option(help: "Distinct certified replicas required (the replication you expect).") var replicas: Int = 2
    @Option(help: "The jurisdiction's signed revocation list (`qantara trust revocations`), newer than the statements.")
    var revocations: String?
    @Flag(help: "Accept an object stored without encryption (a benchmark setting).") var allowPlaintext = false
    @Option(help: "A checkpoint of the log you hold: the attestation's must consistently extend it (no fork, no cut).")
    var checkpoint: String?
    @Option(help: "A witness's verifier key file (repeatable): the checkpoint you hold must carry its cosignature.")
    var witness: [String] = []
    @Flag(help: "Accept an attestation without the version's placement event (written through another gateway).")
    var allowMissingPlacement = false
    @Option(help: "The one log origin to accept (`qantara log origins`); by default any log of the jurisdiction's own gateways.")
    var origin: String?
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        if let maxAge {
            guard let seconds = GrantCommand.seconds(maxAge), seconds > 0, seconds < Int64.max / 1000 else {
                throw ValidationError("--max-age is like 1h or 7d")
            }
        }
        guard nonce != nil || maxAge != nil else {
            throw ValidationError("give --nonce (the one you asked with) or --max-age: otherwise an old attestation passes")
        }
        guard replicas >= 1 else { throw ValidationError("--replicas is at least 1") }
        guard (object == nil) != (bucket == nil) else {
            throw ValidationError("give --object s3://bucket/key (an object attestation) or --bucket (a bucket's)")
        }
        if let object, !(object.hasPrefix("s3://") && object.dropFirst(5).contains("/")) {
            throw ValidationError("--object is s3://bucket/key")
        }
    }

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file),
              let format = try? JSONDecoder().decode(Format.self, from: data).format else {
            throw fail("\(file) is not a location attestation")
        }
        let expected = bucket == nil ? LocationAttestation.format : BucketAttestation.format
        guard format == expected else {
            throw fail("\(file) is a \(format) document; \(bucket == nil ? "--object" : "--bucket") verifies a \(expected)")
        }
        guard let text = FileManager.default.contents(atPath: trust) else { throw fail("cannot read \(trust)") }
        let anchor = try await runAdmin { try TrustAnchor.load(trust) }
        guard String(decoding: text, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            throw fail("\(trust): an attestation is verified with the X.509 anchor (PEM), not verifier keys")
        }
        var revoked = [String: Int64]()
        var revocationsMillis: Int64?
        if let revocations {
            guard let data = FileManager.default.contents(atPath: revocations),
                  let list = RevocationList(String(decoding: data, as: UTF8.self), anchor: anchor) else {
                throw fail("\(revocations) is not a revocation list signed by \(anchor.jurisdiction)'s authority")
            }
            revoked = list.revoked
            revocationsMillis = list.timeMillis
        }
        var held: SignedNote?
        if let checkpoint {
            guard let data = FileManager.default.contents(atPath: checkpoint),
                  let note = SignedNote(String(decoding: data, as: UTF8.self)) else {
                throw fail("\(checkpoint) is not a signed checkpoint")
            }
            held = note
        }
        let witnesses = try LogCommand.witnessKeys(witness)
        let path = object?.dropFirst(5) ?? ""
        let slash = path.firstIndex(of: "/") ?? path.endIndex
        var verifier = AttestationVerifier(anchor: anchor, bucket: bucket ?? String(path[..<slash]),
                                         key: slash < path.endIndex ? String(path[path.index(after: slash)...]) : "",
                                         version: version,
                                         replicas: replicas, allowPlaintext: allowPlaintext,
                                         revocationsMillis: revocationsMillis, nonce: nonce, revoked: revoked,
                                         maximumAgeMillis: maxAge.flatMap(GrantCommand.seconds).map { $0 * 1000 },
                                         nowMillis: Int64(Date().timeIntervalSince1970 * 1000))
        verifier.held = held
        verifier.witnesses = witnesses
        verifier.allowMissingPlacement = allowMissingPlacement
        verifier.origin = origin
        let report: AttestationVerifier.Report
        if bucket != nil {
            guard let attestation = try? JSONDecoder().decode(BucketAttestation.self, from: data) else {
                throw fail("\(file) is not a bucket attestation")
            }
            report = verifier.verify(attestation, sampled: key)
        } else {
            guard let attestation = try? JSONDecoder().decode(LocationAttestation.self, from: data) else {
                throw fail("\(file) is not a location attestation")
            }
            report = verifier.verify(attestation)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for line in report.replicas { print(line) }
            for problem in report.problems { FileHandle.standardError.write(Data("problem: \(problem)\n".utf8)) }
            if report.valid { print(report.summary) }
        }
        if !report.valid { throw ExitCode(1) }
    }
}

