const { app, HttpResponse } = require('@azure/functions');

app.http('item', {
    methods: ['GET'],
    route: 'items/{id:int}',
    handler: async (request, context) => {
        const res = new HttpResponse({
            status: 201,
            jsonBody: { id: Number(request.params.id), fn: context.functionName },
        });
        res.cookies.push({ name: 'seen', value: '1', path: '/' });
        return res;
    },
});

app.http('secret', {
    authLevel: 'function',
    handler: async () => ({ body: 'shh' }),
});
