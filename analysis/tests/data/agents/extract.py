import json,sys,os
NOISE={"git","git-remote-https","getopt","cut","tr","uname","lsb_release","getconf","awk","mawk","sed","wc","id","ps","pgrep"}
MODEL=("/v1/messages","/v1/responses","/v1/chat/completions")
ID="3d2c42fb"
def window(s, needle, keep=400):
    i=s.find(needle)
    head=s[:300]
    if i<0: return head+("…" if len(s)>300 else "")
    return head+" … "+s[max(300,i-keep):i+keep]+" …"
src,dst=sys.argv[1],sys.argv[2]
evs=[json.loads(l)["event"] for l in open(src)]
dropped=set(); model=set(); out=[]
for e in evs:
    k=e["kind"]; d=e["data"]
    if k in ("checkpoint",): continue
    # the recording's own cross-check gaps came from the cross-check these fixtures test
    if k=="gap" and d.get("reason") in ("hook_command_not_traced","exec_not_reported_by_hooks"): continue
    if isinstance(d,dict): d.pop("payload",None)
    if k=="exec":
        argv=d.get("argv")
        if argv and os.path.basename(argv[0]) in NOISE:
            dropped.add(e["seq"]); continue
        if d.get("exit_of_seq") in dropped: continue
    if k=="api_call":
        if (d.get("path") or "").endswith(MODEL):
            model.add(e["seq"])
            b=d.get("request_body") or ""
            if len(b)>1200: d["request_body"]=window(b, ID)
        if d.get("response_of_seq") in model:
            b=d.get("response_body") or ""
            if len(b)>1200: d["response_body"]=window(b, "[REDACTED")
    if k in ("tool_call","tool_result","file_read","message","prompt","note"):
        for f in ("output",):
            v=d.get(f)
            if isinstance(v,str) and len(v)>3000: d[f]=v[:3000]
    out.append(e)
with open(dst,"w") as f:
    for e in out: f.write(json.dumps(e,separators=(",",":"),ensure_ascii=False)+"\n")

import re
RX=re.compile(r'OVERRIDE(?:_SET)?_(\d+)')
def squeeze(script):
    out=[]; prev_dropped=False
    for l in script.split('\n'):
        m=[int(x) for x in RX.findall(l)]
        if m and min(m)>=1:
            prev_dropped=True; continue
        if prev_dropped and l.startswith('else builtin unset'):
            continue
        prev_dropped=False
        out.append(l)
    return '\n'.join(out)
evs=[json.loads(l) for l in open(dst)]
for e in evs:
    a=e["data"].get("argv") if isinstance(e["data"],dict) else None
    if a: e["data"]["argv"]=[squeeze(x) if "__CODEX_SNAPSHOT" in x else x for x in a]
with open(dst,"w") as f:
    for e in evs: f.write(json.dumps(e,separators=(",",":"),ensure_ascii=False)+"\n")
