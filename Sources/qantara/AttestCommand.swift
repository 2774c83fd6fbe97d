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

/// `qantara attest object s3://bucket/key --nonce N -o FILE`: a signed location attestation of an object.
struct AttestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attest", abstract: "Ask for a signed location attestation of an object.",
        subcommands: [Object.self])

    struct Object: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every replica of the object's newest version signs, with its node's certified key, the SHA-256 "
                + "of the ciphertext it holds, read now; uses AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the root "
                + "credentials in --data.")
        @Argument(help: "s3://bucket/key") var object: String
        @Option(help: "A fresh value of yours (1 to 128 characters); the attestation must carry it.") var nonce: String
        @Option(help: "The gateway to ask (env QANTARA_ENDPOINT).")
        var endpoint: String = ProcessInfo.processInfo.environment["QANTARA_ENDPOINT"] ?? "http://127.0.0.1:9000"
        @Option(help: "Data directory holding root-credentials.")
        var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data"
        @Option(name: .shortAndLong, help: "Output file (default: standard output).") var output: String?

        func validate() throws {
            guard object.hasPrefix("s3://"), let slash = object.dropFirst(5).firstIndex(of: "/"),
                  slash > object.index(object.startIndex, offsetBy: 5), object[object.index(after: slash)...].count > 0 else {
                throw ValidationError("the object is s3://bucket/key")
            }
            guard !nonce.isEmpty, nonce.utf8.count <= 128 else { throw ValidationError("--nonce is 1 to 128 characters") }
        }

        func run() async throws {
            let path = object.dropFirst(5)
            let slash = path.firstIndex(of: "/")!
            let bucket = String(path[..<slash]), key = String(path[path.index(after: slash)...])
            let environment = ProcessInfo.processInfo.environment
            let client: AdminClient
            if let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"],
               let url = URL(string: endpoint) {
                client = AdminClient(endpoint: url, accessKeyID: id, secret: secret)
            } else {
                client = try await runAdmin { try AdminOptions.client(endpoint: endpoint, data: data) }
            }
            let rawPath = "/" + URIEncoding.encode(bucket, keepSlash: false) + "/" + URIEncoding.encode(key, keepSlash: true)
            let attestation = try await runAdmin {
                try await client.request("GET", rawPath: rawPath, query: [("nonce", nonce), ("x-qantara-attestation", "")],
                                         as: LocationAttestation.self)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeOutput(String(decoding: try encoder.encode(attestation), as: UTF8.self) + "\n", to: output)
        }
    }
}

/// `qantara verify FILE --trust ANCHOR`: checks a location attestation offline.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a location attestation offline against the jurisdiction's trust anchor: every replica's "
            + "signature, certificate chain, validity and country, the nonce, freshness, and that the replicas agree.")
    @Argument(help: "Attestation file (`qantara attest object`).") var file: String
    @Option(help: "Trust anchor of the jurisdiction (`qantara trust export`, PEM).") var trust: String
    @Option(help: "The object you asked about, s3://bucket/key: the attestation must be of it.") var object: String
    @Option(help: "The version you asked about, if one.") var version: String?
    @Option(help: "The nonce you asked with: the attestation must carry it.") var nonce: String?
    @Option(help: "Fail if a replica's statement is older than this (like 1h, 7d).") var maxAge: String?
    @Option(help: "Distinct certified replicas required (the replication you expect).") var replicas: Int = 2
    @Option(help: "The jurisdiction's signed revocation list (`qantara trust revocations`), newer than the statements.")
    var revocations: String?
    @Flag(help: "Accept an object stored without encryption (a benchmark setting).") var allowPlaintext = false
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
        guard object.hasPrefix("s3://"), object.dropFirst(5).contains("/") else {
            throw ValidationError("--object is s3://bucket/key")
        }
    }

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file),
              let attestation = try? JSONDecoder().decode(LocationAttestation.self, from: data) else {
            throw fail("\(file) is not a location attestation")
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
        let path = object.dropFirst(5)
        let slash = path.firstIndex(of: "/")!
        let report = AttestationVerifier(anchor: anchor, bucket: String(path[..<slash]),
                                         key: String(path[path.index(after: slash)...]), version: version,
                                         replicas: replicas, allowPlaintext: allowPlaintext,
                                         revocationsMillis: revocationsMillis, nonce: nonce, revoked: revoked,
                                         maximumAgeMillis: maxAge.flatMap(GrantCommand.seconds).map { $0 * 1000 },
                                         nowMillis: Int64(Date().timeIntervalSince1970 * 1000)).verify(attestation)
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

/// The offline checks of a location attestation.
/// A jurisdiction's signed list of revoked certificates (`Docs/formats.md`), checked against its anchor.
struct RevocationList {
    /// Serial (hex) → when it was revoked (ms).
    var revoked: [String: Int64]
    /// When the authority signed the list.
    var timeMillis: Int64

    init?(_ text: String, anchor: TrustAnchor) {
        guard let note = SignedNote(text),
              note.signatures.contains(where: { signature in anchor.keys.contains { $0.verifies(signature, of: note.text).valid } })
        else { return nil }
        let lines = note.text.split(separator: "\n").map(String.init)
        guard lines.count >= 3, lines[0] == "qantara/\(anchor.jurisdiction.code)/revocations",
              let count = Int(lines[1]), count == lines.count - 3, lines[2].hasPrefix("time "),
              let time = Int64(lines[2].dropFirst(5)) else { return nil }
        timeMillis = time
        revoked = [:]
        for line in lines.dropFirst(3) {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let millis = Int64(parts[1]) else { return nil }
            revoked[String(parts[0])] = millis
        }
    }
}

struct AttestationVerifier {
    let anchor: TrustAnchor
    /// The object the verifier asked about.
    let bucket: String
    let key: String
    let version: String?
    /// Distinct certified replicas required.
    let replicas: Int
    let allowPlaintext: Bool
    /// When the revocation list was signed (nil: no list).
    let revocationsMillis: Int64?
    let nonce: String?
    let revoked: [String: Int64]
    let maximumAgeMillis: Int64?
    let nowMillis: Int64

    struct Report: Encodable {
        var valid: Bool
        var summary: String
        var replicas: [String]
        var problems: [String]
    }

    /// How far ahead of the verifier's clock a node's may be.
    static let clockSkewMillis: Int64 = 300_000

    func verify(_ attestation: LocationAttestation) -> Report {
        var problems = [String]()
        var lines = [String]()
        let jurisdiction = attestation.jurisdiction
        if attestation.format != LocationAttestation.format { problems.append("unknown format \(attestation.format)") }
        if jurisdiction != anchor.jurisdiction.code {
            problems.append("the object is in \(jurisdiction), the anchor is \(anchor.jurisdiction)'s")
        }
        if attestation.bucket != bucket || attestation.key != Base64URL.encode(Array(key.utf8)) {
            problems.append("the attestation is of another object than s3://\(bucket)/\(key)")
        }
        if let version, version != attestation.version {
            problems.append("the attestation is of version \(attestation.version), not \(version)")
        }
        if let nonce, nonce != attestation.nonce {
            problems.append("the attestation answers nonce \(attestation.nonce), not yours (replayed or for someone else)")
        }
        var claims = [(claim: ReplicaClaim, node: String)]()
        for (index, replica) in attestation.replicas.enumerated() {
            let place = "replica \(index + 1)"
            guard let claim = ReplicaClaim(text: replica.statement) else {
                problems.append("\(place): its statement is not a replica statement")
                continue
            }
            let name = "replica \(claim.node)"
            let checks = checkReplica(replica, claim, attestation)
            if checks.isEmpty {
                claims.append((claim, claim.node))
                lines.append("\(claim.node) (\(jurisdiction)): holds \(claim.storedBytes) bytes in \(claim.segments) "
                    + "segment(s), sha256 \(claim.sha256), signed \(Timestamps.iso8601(millis: claim.timeMillis)), "
                    + "certificate of \(jurisdiction)'s authority")
            } else {
                problems += checks.map { "\(name): \($0)" }
            }
        }
        // The replica set every statement names: all the same, and each one present once.
        let sets = Set(claims.map { $0.claim.replicas.sorted() })
        if sets.count > 1 { problems.append("the replicas name different replica sets: \(sets.map { $0.joined(separator: ",") })") }
        if let named = sets.first {
            let present = claims.map(\.node)
            if Set(present).count != present.count { problems.append("a replica's statement appears twice") }
            for missing in named where !present.contains(missing) {
                problems.append("replica \(missing), named by the others, gave no statement (removed, or it could not "
                    + "read its copy)")
            }
            for extra in present where !named.contains(extra) {
                problems.append("replica \(extra) is not among the replicas the others name")
            }
        }
        if claims.isEmpty { problems.append("no replica's statement verifies") }
        if Set(claims.map(\.node)).count < replicas {
            problems.append("\(Set(claims.map(\.node)).count) certified replica(s) attest, \(replicas) required")
        }
        for unanswered in attestation.unanswered { problems.append("replica \(unanswered) (as the gateway reports)") }
        // The copies agree: same bytes, same keys.
        var digests = [String: [String]]()
        for (claim, node) in claims { digests[claim.sha256, default: []].append(node) }
        if digests.count > 1 {
            // A strict majority names the odd copies out; without one, every copy is named.
            let ranked = digests.sorted { $0.value.count > $1.value.count }
            if ranked[0].value.count * 2 > claims.count {
                for (digest, nodes) in ranked.dropFirst() {
                    problems.append("replica \(nodes.joined(separator: ",")) holds different bytes (sha256 \(digest), the "
                        + "others \(ranked[0].key)): its copy is damaged or altered")
                }
            } else {
                problems.append("the replicas hold different bytes: " + ranked.map { digest, nodes in
                    "\(nodes.joined(separator: ",")) sha256 \(digest)" }.joined(separator: ", ")
                    + " (a copy is damaged or altered)")
            }
        }
        let custodies = Set(claims.map { $0.claim.custody.map {
            "\($0.jurisdiction)/\($0.tenant)/\($0.keyVersion)/\($0.bucketKey)/\($0.cipher)" } ?? "none" })
        if custodies.count > 1 { problems.append("the replicas disagree on the keys that open the object") }
        if custodies.contains("none") && !allowPlaintext {
            problems.append("the object is stored without encryption (no key custody)")
        }
        var summary = "attestation of \(attestation.bucket)/\(String(decoding: Base64URL.decode(attestation.key) ?? [], as: UTF8.self)) "
            + "version \(attestation.version) verified: \(claims.count) replica(s) in \(jurisdiction), all certified by "
            + "\(jurisdiction)'s authority, holding the same ciphertext"
        if let custody = claims.first?.claim.custody {
            summary += "; encrypted with \(custody.cipher) under tenant \(custody.tenant)'s key v\(custody.keyVersion) "
                + "in \(custody.jurisdiction)'s key store"
            if custody.jurisdiction != jurisdiction {
                problems.append("the data key is wrapped in \(custody.jurisdiction)'s key store, not \(jurisdiction)'s")
            }
        }
        // The attestation's own record in J's audit log, proven included in a checkpoint J's authority signed.
        guard let checkpoint = attestation.checkpoint, let note = SignedNote(checkpoint),
              let head = AuditVerifier.verifiedCheckpoint(note, keys: anchor.keys).0,
              head.origin.hasPrefix(AuditVerifier.originPrefix(anchor.jurisdiction)) else {
            problems.append("no audit-log checkpoint signed by \(jurisdiction)'s authority comes with it")
            return Report(valid: false, summary: summary, replicas: lines, problems: problems)
        }
        if let record = attestation.audit, let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(record.entry.utf8)),
           record.proof.count <= 64, let proof = Optional(record.proof.compactMap(Base64.decode)),
           proof.count == record.proof.count,
           MerkleTree.verifyInclusion(index: record.index, size: head.size, leaf: MerkleTree.leafHash(Array(record.entry.utf8)),
                                      proof: proof, root: head.root),
           entry.kind == "attestation", entry.seq == record.index &+ 1, entry.fields["nonce"] == attestation.nonce,
           entry.fields["bucket"] == attestation.bucket, entry.fields["version"] == attestation.version,
           entry.fields["key"].map({ Base64URL.encode(Array($0.utf8)) }) == attestation.key {
            summary += "; recorded as entry \(entry.seq) of \(jurisdiction)'s audit log \(head.origin) (\(head.size) entries)"
        } else {
            problems.append("its own record in \(jurisdiction)'s audit log is missing or not proven in the checkpoint")
        }
        return Report(valid: problems.isEmpty, summary: summary, replicas: lines, problems: problems)
    }

    /// What is wrong with one replica's statement, or nothing.
    func checkReplica(_ replica: LocationAttestation.Replica, _ claim: ReplicaClaim,
                      _ attestation: LocationAttestation) -> [String] {
        var problems = [String]()
        guard let certificate = try? Certificate(pemEncoded: replica.certificate) else {
            return ["its certificate is not a PEM certificate"]
        }
        // The chain: issued by one of the anchor's authority keys, named as such.
        var issuerCountry: String?, issuerName: String?, country: String?, node: String?
        for rdn in certificate.issuer {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.countryName { issuerCountry = attribute.value.description }
                if attribute.type == .RDNAttributeType.commonName { issuerName = attribute.value.description }
            }
        }
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.countryName { country = attribute.value.description }
                if attribute.type == .RDNAttributeType.commonName { node = attribute.value.description }
            }
        }
        guard issuerCountry == anchor.jurisdiction.code, let issuerName,
              let authority = anchor.keys.first(where: { $0.name == issuerName }),
              let authorityKey = try? Curve25519.Signing.PublicKey(rawRepresentation: authority.publicKey),
              Certificate.PublicKey(authorityKey).isValidSignature(certificate.signature, for: certificate) else {
            return ["its certificate is not issued by \(anchor.jurisdiction)'s authority"]
        }
        if (try? certificate.extensions.basicConstraints) != .notCertificateAuthority {
            problems.append("its certificate is not a node's (it may sign certificates)")
        }
        if country != attestation.jurisdiction || claim.jurisdiction != attestation.jurisdiction {
            problems.append("its certificate is of C=\(country ?? "none"), the object is in \(attestation.jurisdiction)")
        }
        if node != claim.node { problems.append("its certificate names node \(node ?? "none"), the statement \(claim.node)") }
        if let revokedAt = revoked[Hex.encode(Array(certificate.serialNumber.bytes))], revokedAt <= claim.timeMillis {
            problems.append("its certificate was revoked at \(Timestamps.iso8601(millis: revokedAt)), before it signed")
        }
        if let revocationsMillis, revocationsMillis < claim.timeMillis {
            problems.append("the revocation list is older than its statement: ask for a fresh one")
        }
        if claim.timeMillis < 0 || claim.timeMillis > Int64(1) << 50 {
            return problems + ["it carries no plausible time"]
        }
        if claim.timeMillis > nowMillis + Self.clockSkewMillis {
            problems.append("it is dated in the future (\(claim.timeMillis) ms)")
        }
        let signedAt = Date(timeIntervalSince1970: TimeInterval(claim.timeMillis) / 1000)
        if signedAt < certificate.notValidBefore || signedAt > certificate.notValidAfter {
            problems.append("its certificate was not valid when it signed (\(certificate.notValidBefore) to "
                + "\(certificate.notValidAfter))")
        }
        guard let signature = Base64.decode(replica.signature),
              let nodeKey = Curve25519.Signing.PublicKey(certificate.publicKey),
              nodeKey.isValidSignature(signature, for: Array(replica.statement.utf8)) else {
            return problems + ["its signature does not verify with its certificate's key (the statement was altered)"]
        }
        if claim.bucket != attestation.bucket || Base64URL.encode(claim.key) != attestation.key
            || claim.version != attestation.version {
            problems.append("it speaks of another object or version")
        }
        if String(decoding: claim.nonce, as: UTF8.self) != attestation.nonce {
            problems.append("it answers another nonce")
        }
        if let nonce, String(decoding: claim.nonce, as: UTF8.self) != nonce {
            problems.append("it does not carry your nonce")
        }
        let (age, overflow) = nowMillis.subtractingReportingOverflow(claim.timeMillis)
        if let maximumAgeMillis, overflow || age > maximumAgeMillis {
            problems.append("it was signed at \(claim.timeMillis) ms, older than the maximum age")
        }
        return problems
    }
}
