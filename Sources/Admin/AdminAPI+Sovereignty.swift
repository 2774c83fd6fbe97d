import Foundation
import Hashing
import KeyStore
import ObjectModel
import ObjectService
import Sovereignty

/// The admin API's sovereignty endpoints: grants (issued, listed, revoked through the issuing jurisdiction's key
/// store) and audit logs; every grant event is recorded in the issuer's audit log before the answer.
extension AdminAPI {
    func sovereignty(method: String, path: [String], query: [String: String], body: [UInt8]) async throws -> Result {
        switch (method, path.first, path.count) {
        case ("POST", "grants", 1):
            let request = try decode(IssueGrantBody.self, body)
            let jurisdiction = try Self.jurisdiction(request.jurisdiction)
            let now = service.clock.nowSeconds()
            var operations = [ReadOperation]()
            for name in request.operations {
                guard let operation = ReadOperation(rawValue: name) else {
                    throw AdminError(status: 400, code: "InvalidArgument", message: "unknown operation \(name); one of "
                        + ReadOperation.allCases.map(\.rawValue).joined(separator: ", "))
                }
                operations.append(operation)
            }
            guard let purpose = GrantPurpose(rawValue: request.purpose) else {
                throw AdminError(status: 400, code: "InvalidArgument", message: "unknown purpose \(request.purpose); one of "
                    + GrantPurpose.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let recipients = try request.recipients.map { try Self.jurisdiction($0.uppercased()) }
            guard let record = service.control.bucket(request.bucket), record.tenant == request.tenant,
                  record.jurisdiction == jurisdiction else {
                throw AdminError(status: 404, code: "NoSuchBucket",
                                 message: "tenant \(request.tenant) has no bucket \(request.bucket) in \(jurisdiction)")
            }
            let notBefore = request.notBefore ?? now
            let grant = Grant(id: "g-" + Hex.encode(SecureRandom.bytes(6)), issuer: jurisdiction, recipients: recipients,
                              tenant: request.tenant, bucket: request.bucket, key: request.key, prefix: request.prefix ?? "",
                              operations: operations, purpose: purpose, legalBasis: request.legalBasis,
                              notBefore: notBefore, expires: notBefore + request.expiresInSeconds, issuedAt: now,
                              maxBytes: request.maxBytes, maxRequests: request.maxRequests)
            let fields = [
                "event": "issue", "grant": grant.id, "recipients": recipients.map(\.code).joined(separator: ","),
                "tenant": grant.tenant, "bucket": grant.bucket, "scope": grant.key.map { "key " + $0 } ?? "prefix " + grant.prefix,
                "operations": operations.map(\.rawValue).joined(separator: ","), "purpose": purpose.rawValue,
                "legalBasis": grant.legalBasis, "notBefore": String(grant.notBefore), "expires": String(grant.expires)]
            let status = try await audited(jurisdiction, "grant", fields) {
                try await service.store.crypto.translate {
                    try await service.store.crypto.keyStore(jurisdiction).issueGrant(
                        grant, metadata: service.adminRequest(jurisdiction, "grant issue"))
                }
            }
            gate.forgetGrants(jurisdiction)
            return Self.json(201, Self.view(status, now: now))
        case ("GET", "grants", 1), ("GET", "grants", 2):
            let jurisdiction = try Self.jurisdiction(Self.required(query["jurisdiction"], "jurisdiction"))
            let statuses = try await service.store.crypto.translate {
                try await service.store.crypto.keyStore(jurisdiction).grants(
                    metadata: service.adminRequest(jurisdiction, "grant list"))
            }
            let views = statuses.map { Self.view($0, now: service.clock.nowSeconds()) }
            if path.count == 2 {
                guard let view = views.first(where: { $0.id == path[1] }) else {
                    throw AdminError(status: 404, code: "NoSuchGrant", message: "no grant \(path[1]) in \(jurisdiction)")
                }
                return Self.json(200, view)
            }
            return Self.json(200, views)
        case ("POST", "grants", 3) where path[2] == "revoke":
            let request = try decode(KeyActionBody.self, body)
            let jurisdiction = try Self.jurisdiction(request.jurisdiction)
            let status: GrantStatus
            do {
                status = try await audited(jurisdiction, "grant", ["event": "revoke", "grant": path[1]]) {
                    try await service.store.crypto.translate {
                        try await service.store.crypto.keyStore(jurisdiction).revokeGrant(
                            id: path[1], metadata: service.adminRequest(jurisdiction, "grant revoke"))
                    }
                }
            } catch ObjectServiceError.invalidArgument {
                throw AdminError(status: 404, code: "NoSuchGrant", message: "no grant \(path[1]) in \(jurisdiction)")
            }
            gate.forgetGrants(jurisdiction)
            return Self.json(200, Self.view(status, now: service.clock.nowSeconds()))
        case ("GET", "audit", 1):
            let jurisdiction = try Self.jurisdiction(Self.required(query["jurisdiction"], "jurisdiction"))
            let log = try gate.auditLog(jurisdiction)
            let published = try await service.store.crypto.translate {
                try await service.store.crypto.keyStore(jurisdiction).authorities()
            }
            return Self.json(200, AuditView(jurisdiction: jurisdiction.code, entries: try log.entryLines(),
                                            heads: try log.headLines(),
                                            authorities: published.map { AuthorityKeyView(kid: $0.kid, publicKey: $0.publicKey) }))
        default:
            throw AdminError(status: 404, code: "NoSuchEndpoint", message: "unknown admin endpoint \(method) \(path.joined(separator: "/"))")
        }
    }

    static func view(_ status: GrantStatus, now: Int64) -> GrantView {
        let grant = SignedGrant(compact: status.jws).payload()
        let state: String
        if status.revokedMillis != nil {
            state = "revoked"
        } else if let grant, now < grant.notBefore {
            state = "not-yet-valid"
        } else if let grant, now >= grant.expires {
            state = "expired"
        } else {
            state = "active"
        }
        return GrantView(id: status.id, issuer: grant?.issuer.code ?? "", recipients: grant?.recipients.map(\.code) ?? [],
                         tenant: grant?.tenant ?? "", bucket: grant?.bucket ?? "",
                         scope: grant.map { $0.key.map { "key " + $0 } ?? "prefix " + ($0.prefix.isEmpty ? "(all)" : $0.prefix) } ?? "",
                         operations: grant?.operations.map(\.rawValue) ?? [], purpose: grant?.purpose.rawValue ?? "",
                         legalBasis: grant?.legalBasis ?? "",
                         notBefore: grant.map { Timestamps.iso8601(millis: $0.notBefore * 1000) } ?? "",
                         expires: grant.map { Timestamps.iso8601(millis: $0.expires * 1000) } ?? "", state: state,
                         maxRequests: grant?.maxRequests, maxBytes: grant?.maxBytes, usedRequests: status.usedRequests,
                         usedBytes: status.usedBytes, jws: status.jws)
    }
}
