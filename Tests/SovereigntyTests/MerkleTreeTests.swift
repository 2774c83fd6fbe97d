@testable import Hashing
import ObjectModel
@testable import Sovereignty
import XCTest

final class MerkleTreeTests: XCTestCase {
    /// The Certificate Transparency reference leaves and the root of each tree size 0...8 (RFC 6962 test data).
    let referenceLeaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                           "606162636465666768696a6b6c6d6e6f"].map { Hex.decode($0)! }
    let referenceRoots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    func referenceTree() -> MerkleLevels {
        var tree = MerkleLevels()
        for leaf in referenceLeaves { tree.append(leaf: leaf) }
        return tree
    }

    func testRootsAndProofsMatchTheRFC6962ReferenceVectors() {
        let tree = referenceTree()
        for size in 0...8 { XCTAssertEqual(Hex.encode(tree.root(size: UInt64(size))), referenceRoots[size], "size \(size)") }
        XCTAssertEqual(tree.inclusionProof(index: 0, size: 8).map(Hex.encode), [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"])
        XCTAssertEqual(tree.inclusionProof(index: 5, size: 8).map(Hex.encode), [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"])
        XCTAssertEqual(tree.consistencyProof(oldSize: 2, newSize: 5).map(Hex.encode), [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"])
    }

    func testHashTilesAreTheStoredLevels() {
        let tree = referenceTree()
        XCTAssertEqual(tree.tile(level: 0, index: 0, width: 8), referenceLeaves.flatMap { MerkleTree.leafHash($0) })
        XCTAssertEqual(tree.tile(level: 0, index: 0, width: 3), Array(referenceLeaves.prefix(3).flatMap { MerkleTree.leafHash($0) }))
        XCTAssertNil(tree.tile(level: 0, index: 0, width: 9))
        XCTAssertNil(tree.tile(level: 0, index: 1, width: 1))
        XCTAssertNil(tree.tile(level: 1, index: 0, width: 1), "no complete subtree of 256 leaves yet")
        XCTAssertNil(tree.tile(level: 0, index: UInt64.max, width: 1))
    }

    /// The root of `leaves` by the RFC's recursive definition, without stored levels.
    func naiveRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return MerkleTree.emptyRoot }
        if leaves.count == 1 { return leaves.first! }
        let k = Int(MerkleTree.split(UInt64(leaves.count)))
        return MerkleTree.nodeHash(naiveRoot(leaves.prefix(k)), naiveRoot(leaves.dropFirst(k)))
    }

    func testEveryProofOfEveryShapeVerifiesAndNoAlteredOneDoes() {
        var tree = MerkleLevels()
        var hashes = [[UInt8]]()
        for index in 0..<70 {
            let hash = MerkleTree.leafHash(Array("entry \(index)".utf8))
            hashes.append(hash)
            tree.append(leafHash: hash)
        }
        for size in 1...UInt64(70) {
            let root = tree.root(size: size)
            XCTAssertEqual(root, naiveRoot(hashes.prefix(Int(size))[...]), "size \(size)")
            for index in 0..<size {
                let proof = tree.inclusionProof(index: index, size: size)
                XCTAssertTrue(MerkleTree.verifyInclusion(index: index, size: size, leaf: hashes[Int(index)], proof: proof,
                                                         root: root), "leaf \(index) of \(size)")
                if size > 1 {
                    XCTAssertFalse(MerkleTree.verifyInclusion(index: (index + 1) % size, size: size,
                                                              leaf: hashes[Int(index)], proof: proof, root: root))
                }
                if !proof.isEmpty {
                    var altered = proof
                    altered[altered.count / 2][7] ^= 1
                    XCTAssertFalse(MerkleTree.verifyInclusion(index: index, size: size, leaf: hashes[Int(index)],
                                                              proof: altered, root: root))
                    XCTAssertFalse(MerkleTree.verifyInclusion(index: index, size: size, leaf: hashes[Int(index)],
                                                              proof: proof.dropLast().map { $0 }, root: root))
                }
            }
            for old in 0...size {
                let proof = tree.consistencyProof(oldSize: old, newSize: size)
                XCTAssertTrue(MerkleTree.verifyConsistency(oldSize: old, oldRoot: tree.root(size: old), newSize: size,
                                                           newRoot: root, proof: proof), "\(old) → \(size)")
                guard old > 0, old < size else { continue }
                // A forked history: the same old size with another root is never consistent.
                var forked = tree.root(size: old)
                forked[0] ^= 0x80
                XCTAssertFalse(MerkleTree.verifyConsistency(oldSize: old, oldRoot: forked, newSize: size, newRoot: root,
                                                            proof: proof))
                var altered = proof
                altered[0][31] ^= 1
                XCTAssertFalse(MerkleTree.verifyConsistency(oldSize: old, oldRoot: tree.root(size: old), newSize: size,
                                                            newRoot: root, proof: altered), "\(old) → \(size)")
                // A shorter log cannot be proven to extend a longer one.
                XCTAssertFalse(MerkleTree.verifyConsistency(oldSize: size, oldRoot: root, newSize: old,
                                                            newRoot: tree.root(size: old), proof: proof))
            }
        }
    }

    func testSignedNotesFollowC2SP() throws {
        let pair = Ed25519.KeyPair.generate()
        let key = NoteKey(name: "MA-authority-v1", publicKey: pair.publicKey)
        let checkpoint = Checkpoint(origin: "qantara/MA/audit/gateway", size: 8,
                                    root: Hex.decode(referenceRoots[8])!, extensions: ["time 1800000000000"])
        XCTAssertEqual(checkpoint.body,
                       "qantara/MA/audit/gateway\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 1800000000000\n")
        let note = SignedNote(text: checkpoint.body, signatures: [key.sign(checkpoint.body, with: pair)])
        let text = note.serialized
        XCTAssertTrue(text.hasPrefix(checkpoint.body + "\n\u{2014} MA-authority-v1 "))
        let parsed = try XCTUnwrap(SignedNote(text))
        XCTAssertEqual(parsed, note)
        XCTAssertEqual(Checkpoint(body: parsed.text), checkpoint)
        XCTAssertEqual(checkpoint.timeMillis, 1_800_000_000_000)
        XCTAssertTrue(key.verifies(parsed.signatures[0], of: parsed.text).valid)
        XCTAssertEqual(NoteKey(verifierKey: key.verifierKey), key)
        // The base64 key may hold '+': only the first two separate the parts.
        let plus = NoteKey(name: "MA-authority-v1", publicKey: [UInt8](repeating: 0xfb, count: 32))
        XCTAssertTrue(plus.verifierKey.split(separator: "+").count > 3)
        XCTAssertEqual(NoteKey(verifierKey: plus.verifierKey), plus)
        XCTAssertEqual(parsed.signatures[0].keyID, key.keyID)
        // Another text, another key, a key of another name: no.
        XCTAssertFalse(key.verifies(parsed.signatures[0], of: parsed.text.replacingOccurrences(of: "\n8\n", with: "\n9\n")).valid)
        let other = NoteKey(name: "MA-authority-v1", publicKey: Ed25519.KeyPair.generate().publicKey)
        XCTAssertFalse(other.verifies(parsed.signatures[0], of: parsed.text).valid)
        XCTAssertFalse(NoteKey(name: "FR-authority-v1", publicKey: pair.publicKey).verifies(parsed.signatures[0], of: parsed.text).valid)
        // Malformed notes and checkpoints are refused, not half-read.
        XCTAssertNil(SignedNote(checkpoint.body))
        XCTAssertNil(SignedNote(text.replacingOccurrences(of: "\u{2014}", with: "-")))
        XCTAssertNil(Checkpoint(body: "origin\n08\n\(Base64.encode(checkpoint.root))\n"))
        XCTAssertNil(Checkpoint(body: "origin\n8\nAAAA\n"))
        XCTAssertNil(NoteKey(verifierKey: key.verifierKey.replacingOccurrences(of: "+", with: "+0", options: [], range: nil)))

        // A witness's cosignature (C2SP tlog-cosignature) carries its time and verifies only as such.
        let witnessPair = Ed25519.KeyPair.generate()
        let witness = NoteKey(name: "regulator.example/witness", publicKey: witnessPair.publicKey, kind: .cosignature)
        let cosignature = witness.sign(checkpoint.body, with: witnessPair, time: 1_800_000_000)
        XCTAssertEqual(witness.verifies(cosignature, of: checkpoint.body).time, 1_800_000_000)
        XCTAssertFalse(witness.verifies(cosignature, of: checkpoint.body + "x\n").valid)
        XCTAssertNotEqual(witness.keyID, NoteKey(name: witness.name, publicKey: witnessPair.publicKey).keyID)
    }
}

final class ReplicaClaimTests: XCTestCase {
    static let vector = ReplicaClaim(
        node: "ma-1", jurisdiction: "MA", replicas: ["ma-1", "ma-3"], bucket: "records", key: Array("2026/a b.bin".utf8),
        version: "0123456789abcdef0123456789abcdef", sequence: 7, size: 3_145_745, storedBytes: 3_145_873, segments: 4,
        sha256: String(repeating: "ab", count: 32),
        custody: .init(jurisdiction: "MA", tenant: "hospital", keyVersion: 2, bucketKey: "00112233", cipher: "aes-256-gcm"),
        nonce: Array("dpa-2026-001".utf8), timeMillis: 1_800_000_000_000)

    /// The statement text byte by byte (Docs/formats.md's test vector), and a parser that takes only exactly that.
    func testStatementTextIsExactAndParsesBackOnlyExactly() throws {
        let text = Self.vector.text
        XCTAssertEqual(text, """
            qantara-replica/v2
            node ma-1
            jurisdiction MA
            replicas ma-1,ma-3
            bucket records
            key MjAyNi9hIGIuYmlu
            version 0123456789abcdef0123456789abcdef
            sequence 7
            size 3145745
            stored-bytes 3145873
            segments 4
            sha256 \(String(repeating: "ab", count: 32))
            custody MA tenant=aG9zcGl0YWw key-version=2 bucket-key=00112233 cipher=aes-256-gcm
            nonce ZHBhLTIwMjYtMDAx
            time 1800000000000

            """)
        XCTAssertEqual(ReplicaClaim(text: text), Self.vector)
        var plain = Self.vector
        plain.custody = nil
        XCTAssertEqual(ReplicaClaim(text: plain.text), plain)
        XCTAssertTrue(plain.text.contains("\ncustody none\n"))
        // Anything else is not a statement: a reordered, missing, extra or padded line.
        let lines = text.split(separator: "\n").map(String.init)
        var swapped = lines
        swapped.swapAt(1, 2)
        for bad in [swapped.joined(separator: "\n") + "\n", lines.dropLast().joined(separator: "\n") + "\n",
                    text + "extra 1\n", text.replacingOccurrences(of: "segments 4", with: "segments  4"),
                    text.replacingOccurrences(of: "sha256 ab", with: "sha256 zz"), String(text.dropLast())] {
            XCTAssertNil(ReplicaClaim(text: bad), bad)
        }
    }
}

final class BucketClaimTests: XCTestCase {
    func testStatementTextIsExactAndParsesBackOnlyExactly() {
        let claim = BucketClaim(node: "ma-1", jurisdiction: "MA", bucket: "records", objects: 1234,
                                root: Array(repeating: 0xAB, count: 32), nonce: Array("dpa-2026-001".utf8),
                                timeMillis: 1_800_000_000_000)
        XCTAssertEqual(claim.text, """
            qantara-bucket-replica/v1
            node ma-1
            jurisdiction MA
            bucket records
            objects 1234
            root \(Base64.encode(Array(repeating: 0xAB, count: 32)))
            nonce ZHBhLTIwMjYtMDAx
            time 1800000000000

            """)
        XCTAssertEqual(BucketClaim(text: claim.text), claim)
        for bad in [claim.text.replacingOccurrences(of: "objects 1234", with: "objects -1"),
                    claim.text.replacingOccurrences(of: "root q", with: "root  q"), claim.text + "extra 1\n",
                    String(claim.text.dropLast())] {
            XCTAssertNil(BucketClaim(text: bad), bad)
        }
    }
}
