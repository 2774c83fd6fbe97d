import Crypto
import Foundation
import Hashing
import ObjectModel
import Sovereignty
import SwiftASN1
import X509

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

/// The offline checks of a location attestation (`Docs/formats.md`, "Location attestations").
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
    /// A checkpoint of the log the verifier holds (from an earlier attestation, a log export or a witness): the
    /// attestation's must consistently extend it.
    var held: SignedNote? = nil
    /// Witnesses whose cosignature the held checkpoint must carry.
    var witnesses: [NoteKey] = []
    /// Accept an attestation without the version's placement event (written through another gateway's log).
    var allowMissingPlacement = false
    /// The one log origin accepted (`qantara log origins` lists J's); by default, any of J's own gateways' logs.
    var origin: String? = nil

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
        if let nonce, !Self.same(nonce, attestation.nonce) {
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
        guard let head = checkpoint(attestation.checkpoint) else {
            problems.append("no audit-log checkpoint signed by \(jurisdiction)'s authority comes with it")
            return Report(valid: false, summary: summary, replicas: lines, problems: problems)
        }
        let ownRecord = Self.provenEntry(attestation.audit, in: head)
        if let entry = ownRecord, entry.kind == "attestation", Self.same(entry.fields["nonce"], attestation.nonce),
           Self.names(entry, attestation) {
            summary += "; recorded as entry \(entry.seq) of \(jurisdiction)'s audit log \(head.origin) (\(head.size) entries)"
            problems += checkRecord(entry)
            // The replica set the gateway recorded is the one the statements name.
            if let named = sets.first, let recorded = entry.fields["replicas"],
               recorded.split(separator: ",").map(String.init).sorted() != named {
                problems.append("the replica set the log recorded (\(recorded)) is not the one the statements name")
            }
        } else {
            problems.append("its own record in \(jurisdiction)'s audit log is missing or not proven in the checkpoint")
        }
        // The placement event the record names (the version's latest when the attestation was made), nothing older.
        let recordedPlacement = ownRecord?.fields["placement"]
        if let recordedPlacement, recordedPlacement != "none", attestation.placement == nil {
            problems.append("the log's record names placement event \(recordedPlacement), which the document leaves out")
        }
        // The log's account of where the version's bytes went, against what the nodes hold now.
        if let record = attestation.placement {
            if let entry = Self.provenEntry(record, in: head), entry.kind == "placement", Self.names(entry, attestation),
               recordedPlacement == nil || recordedPlacement == String(entry.seq) {
                let placed = (entry.fields["nodes"] ?? "").split(separator: ",").map(String.init)
                let operation = entry.fields["op"] ?? "?"
                for node in claims.map(\.node) where !placed.contains(node) {
                    problems.append("replica \(node) holds the version, but its latest placement event (entry "
                        + "\(entry.seq), \(operation)) places it on \(placed.joined(separator: ",")) only")
                }
                if let logged = entry.fields["sha256"] {
                    for (claim, node) in claims where claim.sha256 != logged {
                        problems.append("replica \(node) holds other bytes than the log recorded when they were placed "
                            + "(entry \(entry.seq): sha256 \(logged), the replica \(claim.sha256))")
                    }
                } else {
                    problems.append("the placement event (entry \(entry.seq)) records no digest of the stored bytes")
                }
                summary += "; placed on \(placed.joined(separator: ",")) by entry \(entry.seq) (\(operation)), whose digest "
                    + "the replicas match"
            } else {
                problems.append("the version's placement event is not proven in the checkpoint, is of another object, "
                    + "or is not the latest the log's record names")
            }
        } else if !allowMissingPlacement {
            problems.append("no placement event of the version comes with it (written through another gateway's log, "
                + "or before placement events were logged)")
        }
        problems += checkHistory(attestation.consistency, head: head, summary: &summary)
        return Report(valid: problems.isEmpty, summary: summary, replicas: lines, problems: problems)
    }

    /// The document's own record in the log: as fresh as its statements must be.
    func checkRecord(_ entry: AuditEntry) -> [String] {
        let (age, overflow) = nowMillis.subtractingReportingOverflow(entry.timeMillis)
        if let maximumAgeMillis, overflow || age > maximumAgeMillis {
            return ["its record in the log (entry \(entry.seq)) is older than the maximum age"]
        }
        if entry.timeMillis > nowMillis + Self.clockSkewMillis { return ["its record in the log is dated in the future"] }
        return []
    }

    /// Texts compared as bytes (never as Unicode-equivalent strings).
    static func same(_ a: String?, _ b: String) -> Bool { a.map { $0.utf8.elementsEqual(b.utf8) } ?? false }

    /// The attestation's checkpoint against the one the verifier holds: same log, not older, a consistent extension
    /// (a different root at the same size is a fork), and cosigned by the witnesses required.
    func checkHistory(_ consistency: LocationAttestation.ConsistencyProof?, head: Checkpoint, summary: inout String)
        -> [String] {
        guard let held else {
            return witnesses.isEmpty ? [] : ["a witness's cosignature is checked on the checkpoint you hold: give --checkpoint"]
        }
        guard let old = AuditVerifier.verifiedCheckpoint(held, keys: anchor.keys).0 else {
            return ["the checkpoint you hold is not signed by \(anchor.jurisdiction)'s authority"]
        }
        var problems = [String]()
        for witness in witnesses where !held.signatures.contains(where: { witness.verifies($0, of: held.text).valid }) {
            problems.append("the checkpoint you hold is not cosigned by the witness \(witness.name)")
        }
        guard old.origin == head.origin else {
            return problems + ["the checkpoint you hold is of log \(old.origin), the attestation's of \(head.origin)"]
        }
        if old.size > head.size {
            return problems + ["the attestation's checkpoint (\(head.size) entries) is older than yours (\(old.size)): "
                + "the log was cut or rolled back"]
        }
        if old.size == head.size {
            if old.root != head.root {
                problems.append("fork: the log has two checkpoints of \(old.size) entries with different roots")
            }
        } else if let consistency, consistency.fromSize == old.size,
                  consistency.proof.count <= 128, let proof = Optional(consistency.proof.compactMap(Base64.decode)),
                  proof.count == consistency.proof.count,
                  MerkleTree.verifyConsistency(oldSize: old.size, oldRoot: old.root, newSize: head.size,
                                               newRoot: head.root, proof: proof) {
            summary += "; consistent with the checkpoint you hold (\(old.size) entries)"
        } else {
            problems.append("the attestation's checkpoint is not proven a consistent extension of the one you hold "
                + "(\(old.size) entries): the log was rewritten or forked, or the proof is missing")
        }
        return problems
    }

    /// A node statement's checks: its certificate against the anchor (issued by an authority key of the anchor, not a
    /// CA, of the document's country, naming the node, valid when it signed, not revoked by then), its time (not
    /// ahead of the verifier's clock, within the maximum age) and its signature over the statement's bytes.
    struct StatementCheck {
        var problems: [String] = []
        /// Whether the signature verified (the statement's content can then be read as the node's).
        var signed = false
    }

    func checkStatement(_ statement: String, signature: String, certificate pem: String, node claimed: String,
                        jurisdiction: String, documentJurisdiction: String, timeMillis: Int64) -> StatementCheck {
        var check = StatementCheck()
        guard let certificate = try? Certificate(pemEncoded: pem) else {
            check.problems = ["its certificate is not a PEM certificate"]
            return check
        }
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
            check.problems = ["its certificate is not issued by \(anchor.jurisdiction)'s authority"]
            return check
        }
        if (try? certificate.extensions.basicConstraints) != .notCertificateAuthority {
            check.problems.append("its certificate is not a node's (it may sign certificates)")
        }
        if country != documentJurisdiction || jurisdiction != documentJurisdiction {
            check.problems.append("its certificate is of C=\(country ?? "none"), the object is in \(documentJurisdiction)")
        }
        if node != claimed { check.problems.append("its certificate names node \(node ?? "none"), the statement \(claimed)") }
        if let revokedAt = revoked[Hex.encode(Array(certificate.serialNumber.bytes))], revokedAt <= timeMillis {
            check.problems.append("its certificate was revoked at \(Timestamps.iso8601(millis: revokedAt)), before it signed")
        }
        if let revocationsMillis, revocationsMillis < timeMillis {
            check.problems.append("the revocation list is older than its statement: ask for a fresh one")
        }
        if timeMillis < 0 || timeMillis > Int64(1) << 50 {
            check.problems.append("it carries no plausible time")
            return check
        }
        if timeMillis > nowMillis + Self.clockSkewMillis {
            check.problems.append("it is dated in the future (\(timeMillis) ms)")
        }
        let signedAt = Date(timeIntervalSince1970: TimeInterval(timeMillis) / 1000)
        if signedAt < certificate.notValidBefore || signedAt > certificate.notValidAfter {
            check.problems.append("its certificate was not valid when it signed (\(certificate.notValidBefore) to "
                + "\(certificate.notValidAfter))")
        }
        let (age, overflow) = nowMillis.subtractingReportingOverflow(timeMillis)
        if let maximumAgeMillis, overflow || age > maximumAgeMillis {
            check.problems.append("it was signed at \(timeMillis) ms, older than the maximum age")
        }
        guard let bytes = Base64.decode(signature), let nodeKey = Curve25519.Signing.PublicKey(certificate.publicKey),
              nodeKey.isValidSignature(bytes, for: Array(statement.utf8)) else {
            check.problems.append("its signature does not verify with its certificate's key (the statement was altered)")
            return check
        }
        check.signed = true
        return check
    }

    /// The checkpoint a document carries, if J's authority (an anchor key) signed it for one of J's logs.
    func checkpoint(_ serialized: String?) -> Checkpoint? {
        guard let serialized, let note = SignedNote(serialized),
              let head = AuditVerifier.verifiedCheckpoint(note, keys: anchor.keys).0 else { return nil }
        if let origin { return head.origin == origin ? head : nil }
        // A log of J's own gateways: J's authority signs the first checkpoint of any new log, so a log kept by
        // another jurisdiction's gateway (or an identity J never announced) is not taken as J's account.
        let own = AuditVerifier.originPrefix(anchor.jurisdiction) + anchor.jurisdiction.code + "/"
        return head.origin.hasPrefix(own) ? head : nil
    }

    /// The entry of `record` if its inclusion proof verifies in `head`'s tree.
    static func provenEntry(_ record: LocationAttestation.AuditInclusion?, in head: Checkpoint) -> AuditEntry? {
        guard let record, record.proof.count <= 64,
              let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(record.entry.utf8)),
              entry.seq == record.index &+ 1 else { return nil }
        let proof = record.proof.compactMap(Base64.decode)
        guard proof.count == record.proof.count,
              MerkleTree.verifyInclusion(index: record.index, size: head.size,
                                         leaf: MerkleTree.leafHash(Array(record.entry.utf8)), proof: proof,
                                         root: head.root) else { return nil }
        return entry
    }

    /// Whether a log entry names the attestation's object and version.
    static func names(_ entry: AuditEntry, _ attestation: LocationAttestation) -> Bool {
        entry.fields["bucket"] == attestation.bucket && entry.fields["version"] == attestation.version
            && entry.fields["key"].map({ Base64URL.encode(Array($0.utf8)) }) == attestation.key
    }

    /// What is wrong with one replica's statement, or nothing.
    func checkReplica(_ replica: LocationAttestation.Replica, _ claim: ReplicaClaim,
                      _ attestation: LocationAttestation) -> [String] {
        let checked = checkStatement(replica.statement, signature: replica.signature, certificate: replica.certificate,
                                     node: claim.node, jurisdiction: claim.jurisdiction,
                                     documentJurisdiction: attestation.jurisdiction, timeMillis: claim.timeMillis)
        guard checked.signed else { return checked.problems }
        var problems = checked.problems
        if claim.bucket != attestation.bucket || Base64URL.encode(claim.key) != attestation.key
            || claim.version != attestation.version {
            problems.append("it speaks of another object or version")
        }
        if claim.nonce != Array(attestation.nonce.utf8) {
            problems.append("it answers another nonce")
        }
        if let nonce, claim.nonce != Array(nonce.utf8) {
            problems.append("it does not carry your nonce")
        }
        return problems
    }
}
