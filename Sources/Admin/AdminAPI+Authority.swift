import Foundation
import Hashing
import KeyStore
import ObjectModel
import ObjectService
import SigV4
import Sovereignty

/// The admin API's authority endpoint: a jurisdiction's administrators' signed calls (grants, keys, the audit log,
/// administrators, approvals), checked and run by the jurisdiction's key store through the object service.
extension AdminAPI {
    /// An administrator's authority call (`POST authority`): `request` as signed, `body` its verified bytes. Answers
    /// what was done, or the approval that now waits, with the grants, keys, audit log or rewrap job concerned.
    public func authority(_ request: SignableRequest, body: [UInt8], gateway: Jurisdiction, requestID: String) async
        -> Result
    {
        do {
            let answer = try await service.administer(request, body: body, gateway: gateway, requestID: requestID)
            return Self.json(200, view(answer))
        } catch let error as AdminError {
            return Self.json(error.status, AdminErrorView(code: error.code, message: error.message))
        } catch let error as ObjectServiceError {
            let mapped = AdminError(error)
            return Self.json(mapped.status, AdminErrorView(code: mapped.code, message: mapped.message))
        } catch let error as SigV4Error {
            return Self.json(403, AdminErrorView(code: "AccessDenied", message: "\(error)"))
        } catch {
            return Self.json(500, AdminErrorView(code: "InternalError", message: "\(error)"))
        }
    }

    func view(_ answer: ObjectService.AuthorityAnswer) -> AuthorityAnswerView {
        let outcome = answer.outcome
        let now = service.clock.nowSeconds()
        var view = AuthorityAnswerView(administrator: outcome.administrator.name,
                                       administratorId: outcome.administrator.id,
                                       state: outcome.executed == nil ? "awaiting-approval" : "done",
                                       action: (outcome.executed ?? outcome.pending?.action)?.summary ?? "",
                                       pending: outcome.pending.map(Self.view))
        switch outcome.result {
        case .grant(let status)?: view.grants = [Self.view(status, now: now)]
        case .grants(let statuses)?: view.grants = statuses.map { Self.view($0, now: now) }
        case .key(let info)?: view.keys = [Self.view(info)]
        case .keys(let infos)?: view.keys = infos.map(Self.view)
        case .enrolment(let enrolment)?: view.enrolment = enrolment
        case .administrators(let administrators)?: view.administrators = administrators.map {
            AdministratorView(id: $0.id, name: $0.name, created: Timestamps.iso8601(millis: $0.createdMillis))
        }
        case .pending(let pending)?: view.approvals = pending.map(Self.view)
        case .quorum(let quorum)?: view.quorum = quorum
        case .certificate(let issued)?: view.certificate = issued.pem
        case .revocations(let note)?: view.revocations = note
        case .authorized?, .done?, nil: break
        }
        if let log = answer.auditLog {
            view.audit = AuditView(jurisdiction: outcome.administrator.jurisdiction.code, entries: log.entries,
                                   checkpoints: log.checkpoints, latest: log.latest,
                                   checkpointError: log.checkpointError, origins: log.origins,
                                   authorities: log.authorities.map {
                                       AuthorityKeyView(kid: $0.kid, publicKey: $0.publicKey, certificate: $0.certificate)
                                   })
        }
        view.job = answer.job.map(Self.view)
        return view
    }

    static func view(_ pending: PendingApproval) -> PendingApprovalView {
        PendingApprovalView(id: pending.id, action: pending.action.summary, request: Base64.encode(pending.request),
                            requestedBy: pending.requestedBy,
                            approvals: pending.approvals, required: pending.required,
                            expires: Timestamps.iso8601(millis: pending.expiresMillis))
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
