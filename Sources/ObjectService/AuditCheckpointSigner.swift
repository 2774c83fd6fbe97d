import Hashing
import KeyStore
import Logging
import ObjectModel
import ServiceLifecycle
import Sovereignty

/// Has every open audit log's new entries checkpointed by its jurisdiction's authority, through its key store, every
/// second (and once more at shutdown): the gateway presents the tree's new size and root with the consistency proof
/// from the last checkpoint the key store signed of this log, and records the signed note it gets back. A log that
/// was cut or rewritten gets no new checkpoint: the key store refuses, and this reports it as an error every second.
public struct AuditCheckpointSigner: Service {
    let audit: AuditTrail
    let crypto: ObjectCrypto
    let logger: Logger

    public init(audit: AuditTrail, crypto: ObjectCrypto, logger: Logger) {
        self.audit = audit
        self.crypto = crypto
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await checkpointAll()
            try? await Task.sleep(for: .seconds(1))
        }
        await checkpointAll()
    }

    func checkpointAll() async {
        for log in audit.openLogs {
            guard let head = try? log.treeHead(), head.size > head.checkpointSize else { continue }
            do { _ = try await Self.checkpoint(log, crypto: crypto) } catch {
                logger.error("audit log not checkpointed", metadata: ["jurisdiction": "\(log.jurisdiction)",
                                                                      "error": "\(error)"])
            }
        }
    }

    /// Has `log`'s current tree signed by its jurisdiction's authority and records the checkpoint; returns it. Two
    /// callers (the signer each second, an administrator's export) can race: the one that lost presents a proof from
    /// a checkpoint no longer the last, is refused, and tries again from the new one.
    public static func checkpoint(_ log: AuditLog, crypto: ObjectCrypto) async throws -> SignedNote {
        var attempt = 0
        while true {
            attempt += 1
            do { return try await checkpointOnce(log, crypto: crypto) } catch KeyStoreError.invalidRequest(let message)
                where attempt < 3 && message.contains("prove consistency from it") {
                continue
            }
        }
    }

    static func checkpointOnce(_ log: AuditLog, crypto: ObjectCrypto) async throws -> SignedNote {
        let (keyStore, metadata) = try crypto.checkpointSigner(log.jurisdiction)
        let head = try log.treeHead()
        let last = try await keyStore.latestCheckpoint(metadata: metadata).flatMap(SignedNote.init)
            .flatMap { Checkpoint(body: $0.text) }
        let lastSize = last?.size ?? 0
        guard lastSize <= head.size else {
            throw ObjectServiceError.serviceUnavailable("the audit log of \(log.jurisdiction) has \(head.size) entries "
                + "but its authority signed a checkpoint of \(lastSize): the log was cut")
        }
        let proof = try log.consistencyProof(from: lastSize, to: head.size)
        let request = CheckpointRequest(oldSize: lastSize, size: head.size, root: Base64.encode(head.root),
                                        proof: proof.map { Base64.encode($0) })
        guard let note = SignedNote(try await keyStore.signCheckpoint(request, metadata: metadata)) else {
            throw ObjectServiceError.serviceUnavailable("the key store of \(log.jurisdiction) sent no signed note")
        }
        try log.appendCheckpoint(note)
        return note
    }
}
