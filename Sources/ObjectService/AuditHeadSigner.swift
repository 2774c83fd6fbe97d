import Hashing
import Logging
import ObjectModel
import ServiceLifecycle
import Sovereignty

/// Signs the new end of every open audit log with its jurisdiction's authority key, through its key store, every
/// second (and once more at shutdown). A jurisdiction whose gateway this process does not run has no identity at
/// its key store here: its log's heads stay unsigned, with a warning.
public struct AuditHeadSigner: Service {
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
            await signHeads()
            try? await Task.sleep(for: .seconds(1))
        }
        await signHeads()
    }

    func signHeads() async {
        for log in audit.openLogs {
            guard var head = log.unsignedHead(kid: "") else { continue }
            do {
                let keyStore = try crypto.keyStore(log.jurisdiction)
                let signature = try await keyStore.signAuditHead(
                    AuditLog.signingInput(head), metadata: crypto.metadata(log.jurisdiction, "audit head"))
                head.kid = signature.kid
                head.signature = signature.signature
                try log.appendHead(head)
            } catch {
                logger.warning("audit head not signed", metadata: ["jurisdiction": "\(log.jurisdiction)",
                                                                   "error": "\(error)"])
            }
        }
    }
}
