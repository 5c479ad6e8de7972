// Form parsing with request.formData(): urlencoded and multipart, with File fields.

interface FileInfo {
  kind: 'file';
  name: string;
  type: string;
  size: number;
  text: string;
  isBlob: boolean;
}
type Field = string | FileInfo;

async function describe(form: FormData): Promise<Array<[string, Field]>> {
  const out: Array<[string, Field]> = [];
  for (const [k, v] of form) {
    if (typeof v === 'string') out.push([k, v]);
    else out.push([k, { kind: 'file', name: v.name, type: v.type, size: v.size, text: await v.text(), isBlob: v instanceof Blob }]);
  }
  return out;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/parse') {
      try {
        const form = await request.formData();
        return Response.json({ fields: await describe(form), tags: form.getAll('tag'), has: form.has('missing') });
      } catch (err) {
        return Response.json({ error: (err as Error).name }, { status: 400 });
      }
    }
    if (url.pathname === '/build') {
      // Round trip: build FormData, serialise it through a Response, parse it back.
      const form = new FormData();
      form.append('title', 'héllo wörld');
      form.append('doc', new File(['file body'], 'doc.txt', { type: 'text/plain' }));
      form.append('blob', new Blob(['raw']));
      form.set('title', 'replaced');
      const res = new Response(form);
      const ct = res.headers.get('content-type') ?? '';
      const back = await res.formData();
      return Response.json({ multipart: ct.startsWith('multipart/form-data; boundary='), fields: await describe(back) });
    }
    if (url.pathname === '/urlencoded-body') {
      const params = new URLSearchParams({ a: '1 2', b: 'x&y', c: 'é' });
      const res = new Response(params);
      return Response.json({ contentType: res.headers.get('content-type'), body: await res.text() });
    }
    return new Response('not found', { status: 404 });
  },
};
