import Hummingbird
import ObjectService

/// DeleteObject.
enum DeleteHandler {
    static func deleteObject(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        try await call.service.store.delete(record.jurisdiction, bucket: record.name, key: key)
        return Response(status: .noContent, headers: call.headers())
    }
}
