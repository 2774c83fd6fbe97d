import Hashing
import ObjectModel
@testable import qantara
import Sovereignty
import XCTest

/// `qantara verify --checkpoint HELD [--witness KEY]`: the attestation's checkpoint must be of the held log, not
/// older, and a proven consistent extension of it; two checkpoints of one size with different roots are a fork.
/// The authority key here is the test's own, so it can sign what a real key store never would.
final class AttestationHistoryTests: XCTestCase {
    let authority = Ed25519.KeyPair.generate()
    let witnessPair = Ed25519.KeyPair.generate()
    let origin = "qantara/MA/audit/MA/gateway-test"
    var authorityKey: NoteKey { NoteKey(name: "MA-authority-v1", publicKey: authority.publicKey) }
    var witness: NoteKey { NoteKey(name: "dpa.example/witness", publicKey: witnessPair.publicKey, kind: .cosignature) }

    func tree(_ leaves: [String]) -> MerkleLevels {
        var tree = MerkleLevels()
        for leaf in leaves { tree.append(leaf: Array(leaf.utf8)) }
        return tree
    }

    func note(_ tree: MerkleLevels, size: UInt64, origin: String? = nil, key: Ed25519.KeyPair? = nil,
              cosigned: Bool = false) -> SignedNote {
        let body = Checkpoint(origin: origin ?? self.origin, size: size, root: tree.root(size: size)).body
        let signer = NoteKey(name: "MA-authority-v1", publicKey: (key ?? authority).publicKey)
        var signatures = [signer.sign(body, with: key ?? authority)]
        if cosigned { signatures.append(witness.sign(body, with: witnessPair, time: 1_800_000_000)) }
        return SignedNote(text: body, signatures: signatures)
    }

    func verifier(held: SignedNote?, witnesses: [NoteKey] = []) -> AttestationVerifier {
        var verifier = AttestationVerifier(
            anchor: TrustAnchor(jurisdiction: Jurisdiction("MA")!, keys: [authorityKey]), bucket: "b", key: "k",
            version: nil, replicas: 2, allowPlaintext: false, revocationsMillis: nil, nonce: "n", revoked: [:],
            maximumAgeMillis: nil, nowMillis: 0)
        verifier.held = held
        verifier.witnesses = witnesses
        return verifier
    }

    func problems(held: SignedNote?, head: SignedNote, consistency: LocationAttestation.ConsistencyProof? = nil,
                  witnesses: [NoteKey] = []) -> [String] {
        var summary = ""
        return verifier(held: held, witnesses: witnesses)
            .checkHistory(consistency, head: Checkpoint(body: head.text)!, summary: &summary)
    }

    func proof(_ tree: MerkleLevels, from old: UInt64, to new: UInt64) -> LocationAttestation.ConsistencyProof {
        .init(fromSize: old, proof: tree.consistencyProof(oldSize: old, newSize: new).map { Base64.encode($0) })
    }

    func testAConsistentExtensionPassesAndEveryBreakOfHistoryIsNamed() {
        let log = tree((0..<13).map { "entry \($0)" })
        let held = note(log, size: 7), head = note(log, size: 13)
        XCTAssertEqual(problems(held: held, head: head, consistency: proof(log, from: 7, to: 13)), [])
        XCTAssertEqual(problems(held: head, head: head), [])
        // No proof, a proof from another size, a proof of other hashes.
        XCTAssertTrue(problems(held: held, head: head)[0].contains("not proven a consistent extension"))
        XCTAssertTrue(problems(held: held, head: head, consistency: proof(log, from: 6, to: 13))[0]
            .contains("not proven a consistent extension"))
        var altered = proof(log, from: 7, to: 13)
        altered.proof[0] = Base64.encode([UInt8](repeating: 0, count: 32))
        XCTAssertTrue(problems(held: held, head: head, consistency: altered)[0].contains("not proven"))
        // A history rewritten after entry 4: signed (a rolled-back key store would), never consistent.
        let rewritten = tree((0..<13).map { $0 < 4 ? "entry \($0)" : "rewritten \($0)" })
        XCTAssertTrue(problems(held: held, head: note(rewritten, size: 13), consistency: proof(rewritten, from: 7, to: 13))[0]
            .contains("not proven a consistent extension"))
        // A fork: two checkpoints of the same size with different roots.
        XCTAssertTrue(problems(held: note(log, size: 13), head: note(rewritten, size: 13))[0].contains("fork"))
        // A rollback: the attestation's checkpoint is older than the one held.
        XCTAssertTrue(problems(held: head, head: held)[0].contains("older than yours"))
        // Another log's checkpoint, and one not signed by the anchor's authority.
        XCTAssertTrue(problems(held: note(log, size: 7, origin: "qantara/MA/audit/FR/other"), head: head)[0]
            .contains("is of log qantara/MA/audit/FR/other"))
        XCTAssertTrue(problems(held: note(log, size: 7, key: .generate()), head: head)[0]
            .contains("not signed by MA's authority"))
    }

    func testAWitnessIsRequiredOnTheHeldCheckpoint() {
        let log = tree((0..<9).map { "entry \($0)" })
        let head = note(log, size: 9), consistency = proof(log, from: 5, to: 9)
        XCTAssertEqual(problems(held: note(log, size: 5, cosigned: true), head: head, consistency: consistency,
                                witnesses: [witness]), [])
        XCTAssertTrue(problems(held: note(log, size: 5), head: head, consistency: consistency, witnesses: [witness])[0]
            .contains("not cosigned by the witness dpa.example/witness"))
        XCTAssertTrue(problems(held: nil, head: head, witnesses: [witness])[0].contains("give --checkpoint"))
    }
}
