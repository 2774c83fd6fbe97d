import Envelope
import Hashing
import KeyStore
import Logging
import ObjectModel
import ServiceLifecycle
import StorageNode

/// Runs key rewrap jobs in the background: each stored envelope whose bucket key is wrapped by an older tenant key
/// version gets its bucket key re-wrapped by the key store (the key never leaves it) and the envelope replaced on
/// every node holding that version. Object bytes are not touched; a concurrent write of the key wins (nodes replace
/// an envelope only on the version it was read from). Progress is saved after every page, so a job resumes after
/// a crash where it stopped; every step is idempotent.
public struct KeyRewrapJobs: Service {
    let service: ObjectService
    let logger: Logger
    let pollMillis: Int64

    public init(service: ObjectService, logger: Logger, pollMillis: Int64 = 500) {
        self.service = service
        self.logger = logger
        self.pollMillis = pollMillis
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            for job in (try? service.control.jobs()) ?? [] where job.state == .running {
                await service.runRewrap(job, logger: logger)
            }
            try? await Task.sleep(for: .milliseconds(pollMillis))
        }
    }
}

extension ObjectService {
    /// Creates a rewrap job over a jurisdiction's stored data keys (one tenant's, or every tenant's); the
    /// ``KeyRewrapJobs`` service runs it.
    func startRewrap(jurisdiction: Jurisdiction, tenant: String?) async throws -> RewrapJob {
        _ = try keyStore(jurisdiction)
        let buckets = bucketNames(jurisdiction, tenant: tenant)
        var total = 0
        try await forEachEnvelope(jurisdiction, buckets: ArraySlice(buckets), after: nil) { _, manifests, _ in
            total += manifests.count
        }
        let now = clock.nowMillis()
        let job = RewrapJob(id: Hex.encode(SecureRandom.bytes(8)), jurisdiction: jurisdiction, tenant: tenant,
                            state: .running, buckets: buckets, bucketIndex: 0, after: nil, total: total, examined: 0,
                            rewrapped: 0, error: nil, createdMillis: now, updatedMillis: now)
        try control.saveJob(job)
        logger.notice("key rewrap started", metadata: ["job": "\(job.id)", "jurisdiction": "\(jurisdiction)",
                                                       "tenant": "\(tenant ?? "(all)")", "objects": "\(total)"])
        return job
    }

    /// Runs a job to its end, or (`pageLimit`, for tests) stops after that many pages as a crash would: the job
    /// stays `running` with its progress saved.
    func runRewrap(_ start: RewrapJob, logger: Logger, pageSize: Int = 1000, pageLimit: Int = .max) async {
        var pages = 0
        var job = start
        do {
            let keyStore = try keyStore(job.jurisdiction)
            let versions = try await keys(jurisdiction: job.jurisdiction, tenant: job.tenant)
            var current = [String: UInt32]()
            for info in versions where info.state == .current { if let tenant = info.tenant { current[tenant] = info.version } }
            var rewrapped = [[UInt8]: WrappedKey]()  // bucket key id -> its new wrapping
            let nodes = try store.all(job.jurisdiction)
            while job.bucketIndex < job.buckets.count {
                let bucket = job.buckets[job.bucketIndex]
                try await forEachEnvelope(job.jurisdiction, buckets: [bucket], after: job.after,
                                          afterVersion: job.afterVersion, pageSize: pageSize) { _, manifests, uploads in
                    guard pages < pageLimit else { throw RewrapStopped() }
                    for manifest in manifests {
                        if !uploads { job.examined += 1 }
                        guard let bytes = manifest.envelope else { continue }
                        var header = try EnvelopeHeader(decoding: bytes, bucket: manifest.bucket, key: manifest.key)
                        let tenant = header.binding.tenant
                        guard job.tenant == nil || job.tenant == tenant, let target = current[tenant],
                              header.bucketKey.tenantKeyVersion < target else { continue }
                        let reference = header.bucketKey
                        let fresh: WrappedKey
                        if let known = rewrapped[reference.id] {
                            fresh = known
                        } else {
                            fresh = try await store.crypto.translate {
                                try await keyStore.rewrap(
                                    tenant: tenant,
                                    wrapped: WrappedKey(tenantKeyVersion: reference.tenantKeyVersion, bytes: reference.wrappedKey),
                                    aad: reference.context(bucket: manifest.bucket).encoded(),
                                    metadata: adminMetadata(job.jurisdiction, "key rewrap"))
                            }
                            rewrapped[reference.id] = fresh
                        }
                        header.bucketKey.tenantKeyVersion = fresh.tenantKeyVersion
                        header.bucketKey.wrappedKey = fresh.bytes
                        var replaced = 0
                        for node in nodes {
                            do {
                                if try await node.replaceSealed(job.jurisdiction, bucket: manifest.bucket,
                                                                key: manifest.key, version: manifest.versionID,
                                                                sequence: uploads ? nil : manifest.sequence,
                                                                upload: uploads, field: .envelope,
                                                                bytes: header.encoded()) {
                                    replaced += 1
                                }
                            } catch {
                                throw ObjectServiceError.serviceUnavailable("storage node \(node.nodeID) failed during "
                                    + "rewrap (\(error)); the job resumes where it stopped once the node is back")
                            }
                        }
                        if replaced > 0, !uploads { job.rewrapped += 1 }
                    }
                    if !uploads, let last = manifests.last {
                        job.after = last.key
                        job.afterVersion = VersionName.name(last)
                        job.updatedMillis = clock.nowMillis()
                        try control.saveJob(job)
                        pages += 1
                    }
                }
                job.bucketIndex += 1
                job.after = nil
                job.afterVersion = nil
                try control.saveJob(job)
            }
            job.state = .done
            job.updatedMillis = clock.nowMillis()
            try control.saveJob(job)
            logger.notice("key rewrap done", metadata: ["job": "\(job.id)", "rewrapped": "\(job.rewrapped)"])
        } catch is RewrapStopped {
            return
        } catch {
            job.error = "\(error)"
            job.updatedMillis = clock.nowMillis()
            // A node that is down stops the job; it stays running and is retried at the next poll.
            if case ObjectServiceError.serviceUnavailable = error {
                logger.warning("key rewrap paused", metadata: ["job": "\(job.id)", "error": "\(error)"])
                try? control.saveJob(job)
                try? await Task.sleep(for: .seconds(2))
                return
            }
            job.state = .failed
            logger.error("key rewrap failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
            try? control.saveJob(job)
        }
    }
}

/// Thrown to stop a job where it is, as a crash would (tests).
struct RewrapStopped: Error {}
