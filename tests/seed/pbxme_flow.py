import requests

BASE = "https://newsip.pbxme.com/api"
# ── 1. Login ────────────────────────────────────────────────
res = requests.post(f"{BASE}/login",
      data={"username": "YOUR_USERNAME", "password": "YOUR_PASSWORD"})
token = res.json()["account_token"]

# ── 2. Check balance ────────────────────────────────────────
bal = requests.post(f"{BASE}/balance", data={"token": token})
print("Balance:", bal.json()["balance"])

# ── 3. List available numbers in France ─────────────────────
avail = requests.post(f"{BASE}/did/available",
        data={"token": token, "country": "FR"})
dids = avail.json()["dids"]
print(f"Found {len(dids)} French numbers")

# Print first 3 options
for d in dids[:3]:
    print(f"  {d['did_number']}  ${d['monthly_cost']}/mo  setup ${d['setup_fee']}")

# ── 4. Assign the first available number ────────────────────
chosen_id = dids[0]["did_id"]
assign = requests.post(f"{BASE}/did/assign",
         data={"token": token, "did_id": chosen_id})
print("Assigned:", assign.json())

# ── 5. Set forwarding to a PSTN number ──────────────────────
fwd = requests.post(f"{BASE}/did/forward", data={
    "token":       token,
    "did_id":      chosen_id,
    "destination": "+33612345678",   # French mobile number
    "type":        "pstn"
})
print("Forwarding configured:", fwd.json())

# ── 6. Later: list all your purchased numbers ────────────────
my_dids = requests.post(f"{BASE}/did/list", data={"token": token})
print("My numbers:", [d["did_number"] for d in my_dids.json()["dids"]])

# ── 7. Release the number when done ─────────────────────────
release = requests.post(f"{BASE}/did/release",
          data={"token": token, "did_id": chosen_id})
print("Released:", release.json())
