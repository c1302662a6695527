// Invoked by S3 for each object created under incoming/: reads the object's metadata and
// writes it as JSON under METADATA_PREFIX, beside the upload.
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

// The endpoint comes from AWS_ENDPOINT_URL_S3 when it is set (Meridian sets it).
const s3 = new S3Client({ forcePathStyle: true });

// S3 writes keys in its events form-URL-encoded (a space is "+").
const decodeKey = (key) => decodeURIComponent(key.replace(/\+/g, " "));

export const handler = async (event) => {
  for (const record of event.Records) {
    const bucket = record.s3.bucket.name;
    const key = decodeKey(record.s3.object.key);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const metadata = {
      key,
      size: record.s3.object.size,
      eTag: record.s3.object.eTag,
      contentType: head.ContentType,
      eventName: record.eventName,
      eventTime: record.eventTime,
    };
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${process.env.METADATA_PREFIX}${key}.json`,
        Body: JSON.stringify(metadata),
        ContentType: "application/json",
      }),
    );
    console.log(`described s3://${bucket}/${key}`);
  }
};
