import Hashing

/// A witness of audit logs (the role of C2SP `tlog-witness`, run offline by a regulator or another jurisdiction): it
/// keeps the last checkpoint it cosigned of each log, and cosigns a new one only when the log's authority signed it
/// and it extends the one kept, by a consistency proof. A log that shows the witness one history and a verifier
/// another cannot get both cosigned.
public enum Witness {
    /// Cosigns `note` with the witness key, or says why not. `held` is the checkpoint the witness last cosigned of the
    /// same origin (nil: none yet), `proof` the consistency proof from it.
    public static func cosign(_ note: SignedNote, logKeys: [NoteKey], held: Checkpoint?, proof: [[UInt8]],
                              key: NoteKey, pair: Ed25519.KeyPair, time: UInt64)
        -> Result<(SignedNote, Checkpoint), LogProof.ProofFailure>
    {
        let (found, reason) = AuditVerifier.verifiedCheckpoint(note, keys: logKeys)
        guard let checkpoint = found else { return .failure(.init("checkpoint: \(reason ?? "invalid")")) }
        if let held {
            guard held.origin == checkpoint.origin else {
                return .failure(.init("the checkpoint is of \(checkpoint.origin), the one held of \(held.origin)"))
            }
            guard MerkleTree.verifyConsistency(oldSize: held.size, oldRoot: held.root, newSize: checkpoint.size,
                                               newRoot: checkpoint.root, proof: proof) else {
                return .failure(.init("the log of \(checkpoint.size) entries is not a proven extension of the "
                    + "\(held.size) entries this witness cosigned before (cut, rewritten or forked, or no proof given)"))
            }
        }
        var cosigned = note
        cosigned.signatures.removeAll { $0.name == key.name && $0.keyID == key.keyID }
        cosigned.signatures.append(key.sign(note.text, with: pair, time: time))
        return .success((cosigned, checkpoint))
    }
}
