// Runs for each blob written to the samples-workitems container (a Meridian bucket) and
// writes a summary of it to samples-summaries/<name>.json.
module.exports = async function (context, upload) {
  context.log(`JavaScript blob trigger function processed blob "${context.bindingData.name}" with size ${upload.length} bytes`);
  const props = context.bindingData.properties;
  context.bindings.summary = {
    name: context.bindingData.name,
    size: upload.length,
    contentType: props.contentType,
    lines: upload.toString('utf8').split('\n').filter(Boolean).length,
    uri: context.bindingData.uri,
  };
};
